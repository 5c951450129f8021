"""Ethereum on top of an MPC signature: the address, EIP-191 messages, EIP-1559 transactions.

CPython only (it imports pycryptodome, coincurve and eth-account); the protocol modules next to it never
import it, so ``sigil.mpc`` still loads under Pyodide.

- Address (Yellow Paper, Appendix F, eq. 284): the last 20 bytes of Keccak-256 of the 64-byte X‖Y of the
  uncompressed public key (without its 0x04 prefix), written ``0x`` + EIP-55 mixed-case checksum.
- Personal message (EIP-191, version 0x45): Keccak-256 of ``"\\x19Ethereum Signed Message:\\n" + len + msg``;
  the signature is ``0x`` + r‖s‖v (65 bytes) with v = 27 + recovery id, as eth-account's ``sign_message``.
- Transaction (EIP-1559, type 2): the signing hash is Keccak-256(0x02 ‖ rlp([chainId, nonce, ...,
  accessList])); the raw transaction appends yParity, r, s. The RLP encoding is eth-account's (the library
  wallets use); this module only checks the input and hands the fields over.

A signature that comes out of the two-party protocol is checked here once more by recovering its signer:
Ethereum identifies signers by address, so a recovery id that points at another key must never leave.

eth-account is imported only by the transaction code: importing it costs seconds (py_ecc), which every
``sigil`` command would otherwise pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import coincurve
from Crypto.Hash import keccak

from sigil.errors import BadRequest

__all__ = [
    "EIP1559_TYPE",
    "Eip1559Transaction",
    "InvalidTransaction",
    "SignedTransaction",
    "address_from_private_key",
    "address_from_public_key",
    "keccak256",
    "personal_message_hash",
    "recover_address",
    "signature_hex",
    "to_checksum_address",
]

EIP1559_TYPE = 2
_Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_REQUIRED_FIELDS = ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas")
_INT_FIELDS = ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "value")
_KNOWN_FIELDS = frozenset({*_INT_FIELDS, "to", "data", "accessList", "type", "from"})
_MAX_UINT256 = 2**256 - 1


class InvalidTransaction(BadRequest):
    """The transaction JSON is not an EIP-1559 transaction this module can sign."""

    code = "invalid_transaction"
    title = "Invalid Ethereum transaction"


class _SupportsToBytes(Protocol):
    def to_bytes(self, compressed: bool = True) -> bytes: ...


def keccak256(data: bytes) -> bytes:
    """Keccak-256 with the original (pre-FIPS-202) padding, as Ethereum uses it."""
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum_address(address20: bytes) -> str:
    """EIP-55: hex letter i is upper case when nibble i of keccak256(lower-case hex) is >= 8."""
    if len(address20) != 20:
        raise ValueError("an address is 20 bytes")
    lower = address20.hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest[:40], strict=True)
    )


def _uncompressed(public_key: bytes | _SupportsToBytes) -> bytes:
    """65-byte SEC1 uncompressed encoding of a secp256k1 point (33- or 65-byte SEC1, or a Point)."""
    raw = public_key if isinstance(public_key, bytes | bytearray) else public_key.to_bytes(compressed=False)
    try:
        return coincurve.PublicKey(bytes(raw)).format(compressed=False)
    except (ValueError, TypeError):
        raise BadRequest("not a secp256k1 public key") from None


def address_from_public_key(public_key: bytes | _SupportsToBytes) -> str:
    """The EIP-55 address of a secp256k1 public key: keccak256(X‖Y)[12:] (Yellow Paper eq. 284)."""
    return to_checksum_address(keccak256(_uncompressed(public_key)[1:])[12:])


def address_from_private_key(secret: int) -> str:
    """The address of a private scalar (offline recovery checks the key it rebuilt with this)."""
    if not 1 <= secret < _Q:
        raise BadRequest("private key out of range")
    return address_from_public_key(coincurve.PrivateKey(secret.to_bytes(32, "big")).public_key.format(False))


def personal_message_hash(message: bytes | str) -> bytes:
    """EIP-191 version 0x45 ("personal_sign"): what eth-account's ``encode_defunct`` + ``sign_message``
    hash. Text is UTF-8; the length is the decimal byte count."""
    body = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(body)).encode("ascii") + body)


def signature_hex(r: int, s: int, recovery_id: int) -> str:
    """``0x`` + r‖s‖v, 65 bytes, v = 27 + recovery id (the personal_sign / eth-account convention)."""
    if recovery_id not in (0, 1):
        raise ValueError("recovery id must be 0 or 1")
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + recovery_id])).hex()


def recover_address(message_hash: bytes, r: int, s: int, recovery_id: int) -> str:
    """The address whose key made (r, s) over ``message_hash`` with this recovery id (libsecp256k1)."""
    if recovery_id not in (0, 1):
        raise ValueError("recovery id must be 0 or 1")
    if len(message_hash) != 32 or not (1 <= r < _Q and 1 <= s < _Q):
        raise ValueError("a 32-byte hash and r, s in [1, q)")
    rsv = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recovery_id])
    try:
        public = coincurve.PublicKey.from_signature_and_message(rsv, message_hash, hasher=None)
    except ValueError:
        raise ValueError("no public key recovers from this signature") from None
    return address_from_public_key(public.format(compressed=False))


# --- EIP-1559 transactions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    raw: bytes  # 0x02 ‖ rlp([..., yParity, r, s]): what eth_sendRawTransaction takes
    hash: bytes  # keccak256(raw): the transaction hash a block explorer shows

    def to_dict(self) -> dict[str, str]:
        return {"raw_tx": "0x" + self.raw.hex(), "hash": "0x" + self.hash.hex()}


def _int_field(tx: Mapping[str, Any], name: str) -> int:
    value = tx[name]
    if isinstance(value, bool):
        raise InvalidTransaction(f"{name} must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise InvalidTransaction(f"{name} must be an integer (decimal, or 0x-prefixed hex)") from None
    else:
        raise InvalidTransaction(f"{name} must be an integer")
    if not 0 <= number <= _MAX_UINT256:
        raise InvalidTransaction(f"{name} is out of range")
    return number


def _hex_bytes(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value.lower().startswith("0x"):
        raise InvalidTransaction(f"{name} must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidTransaction(f"{name} is not hex") from None


def _address_field(value: Any, name: str) -> str:
    raw = _hex_bytes(value, name)
    if len(raw) != 20:
        raise InvalidTransaction(f"{name} must be a 20-byte address")
    checksummed = to_checksum_address(raw)
    body = value[2:]
    # A mixed-case address carries an EIP-55 checksum: a typo in it must not send funds elsewhere.
    if body != body.lower() and body != body.upper() and value != checksummed:
        raise InvalidTransaction(f"{name} has a wrong EIP-55 checksum")
    return checksummed


def _access_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidTransaction("accessList must be a list")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) != {"address", "storageKeys"}:
            raise InvalidTransaction(f"accessList[{i}] must be {{address, storageKeys}}")
        keys = item["storageKeys"]
        if not isinstance(keys, list):
            raise InvalidTransaction(f"accessList[{i}].storageKeys must be a list")
        slots = []
        for key in keys:
            if len(_hex_bytes(key, f"accessList[{i}].storageKeys")) != 32:
                raise InvalidTransaction(f"accessList[{i}].storageKeys entries are 32 bytes")
            slots.append(key.lower())
        out.append(
            {"address": _address_field(item["address"], f"accessList[{i}].address"), "storageKeys": slots}
        )
    return out


@dataclass(frozen=True, slots=True)
class Eip1559Transaction:
    """An unsigned EIP-1559 transaction, checked and normalised (integers as ints, addresses EIP-55)."""

    fields: Mapping[str, Any]
    sender: str | None = None  # the optional "from": must be the signing wallet's address

    @classmethod
    def from_json(cls, tx: Any) -> Eip1559Transaction:
        """Parse the JSON object of a transaction (the field names of eth-account / JSON-RPC)."""
        if not isinstance(tx, Mapping):
            raise InvalidTransaction("the transaction must be a JSON object")
        unknown = sorted(set(tx) - _KNOWN_FIELDS)
        if unknown:
            raise InvalidTransaction(f"unknown transaction fields: {', '.join(unknown)}")
        missing = [name for name in _REQUIRED_FIELDS if name not in tx]
        if missing:
            raise InvalidTransaction(f"missing transaction fields: {', '.join(missing)}")
        if "type" in tx and _int_field(tx, "type") != EIP1559_TYPE:
            raise InvalidTransaction("only EIP-1559 (type 2) transactions are supported")
        fields: dict[str, Any] = {"type": EIP1559_TYPE}
        for name in _INT_FIELDS:
            fields[name] = _int_field(tx, name) if name in tx else 0
        if fields["chainId"] == 0:
            raise InvalidTransaction("chainId must be set (replay protection, EIP-155)")
        if fields["maxPriorityFeePerGas"] > fields["maxFeePerGas"]:
            raise InvalidTransaction("maxPriorityFeePerGas must not exceed maxFeePerGas")
        to = tx.get("to")
        fields["to"] = b"" if to in (None, "", "0x") else _address_field(to, "to")
        fields["data"] = _hex_bytes(tx["data"], "data") if tx.get("data") not in (None, "") else b""
        fields["accessList"] = _access_list(tx.get("accessList", []))
        sender = _address_field(tx["from"], "from") if tx.get("from") is not None else None
        from eth_account.typed_transactions.typed_transaction import TypedTransaction

        try:
            TypedTransaction.from_dict(dict(fields))  # eth-account's own well-formedness checks
        except (TypeError, ValueError) as exc:
            raise InvalidTransaction(f"eth-account rejects the transaction: {exc}") from None
        return cls(fields=fields, sender=sender)

    def _typed(self, signature: tuple[int, int, int] | None = None) -> Any:
        from eth_account.typed_transactions.typed_transaction import TypedTransaction

        fields = dict(self.fields)
        if signature is not None:
            fields["v"], fields["r"], fields["s"] = signature
        return TypedTransaction.from_dict(fields)

    def signing_hash(self) -> bytes:
        """keccak256(0x02 ‖ rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value,
        data, accessList])) — the 32 bytes the wallet signs (EIP-1559 "Specification")."""
        return bytes(self._typed().hash())

    def signed(self, r: int, s: int, recovery_id: int) -> SignedTransaction:
        """The raw signed transaction for signature (r, s) with ``recovery_id`` as yParity."""
        if recovery_id not in (0, 1):
            raise ValueError("recovery id must be 0 or 1")
        if not (1 <= r < _Q and 1 <= s <= _Q // 2):
            raise ValueError("r and s must be in range, s low (EIP-2)")
        raw = bytes(self._typed((recovery_id, r, s)).encode())
        return SignedTransaction(raw=raw, hash=keccak256(raw))
