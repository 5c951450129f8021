"""sigil.mpc.ethereum against eth-account: addresses, EIP-191 hashes, EIP-1559 signing hashes and raw txs."""

from __future__ import annotations

from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from sigil.errors import BadRequest
from sigil.mpc import ethereum as eth

# eth-account's documented example key (docs: "Account.from_key") and its address.
KNOWN_KEY = 0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318
KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"

# EIP-55's own test addresses (all caps, all lower, mixed).
EIP55_VECTORS = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]

TX: dict[str, Any] = {
    "type": 2,
    "chainId": 11155111,
    "nonce": 7,
    "maxPriorityFeePerGas": 1_500_000_000,
    "maxFeePerGas": 30_000_000_000,
    "gas": 21_000,
    "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "value": 10**15,
    "data": "0x",
}


def test_known_key_address() -> None:
    assert eth.address_from_private_key(KNOWN_KEY) == KNOWN_ADDRESS
    public = coincurve.PrivateKey(KNOWN_KEY.to_bytes(32, "big")).public_key
    assert eth.address_from_public_key(public.format(compressed=True)) == KNOWN_ADDRESS
    assert eth.address_from_public_key(public.format(compressed=False)) == KNOWN_ADDRESS


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_vectors(address: str) -> None:
    assert eth.to_checksum_address(bytes.fromhex(address[2:])) == address


def test_random_keys_match_eth_account() -> None:
    for _ in range(20):
        account = Account.create()
        assert eth.address_from_private_key(int.from_bytes(account.key, "big")) == account.address


def test_bad_public_key() -> None:
    with pytest.raises(BadRequest):
        eth.address_from_public_key(b"\x02" + b"\xff" * 32)


@pytest.mark.parametrize("text", ["hello", "", "ünïcødé ✓", "x" * 1000])
def test_personal_message_hash_and_signature(text: str) -> None:
    account = Account.from_key(KNOWN_KEY.to_bytes(32, "big"))
    signed = account.sign_message(encode_defunct(text=text))
    digest = eth.personal_message_hash(text)
    assert digest == bytes(signed.message_hash)
    assert eth.personal_message_hash(text.encode()) == digest
    rsv = eth.signature_hex(signed.r, signed.s, signed.v - 27)
    assert rsv == "0x" + bytes(signed.signature).hex()
    assert Account.recover_message(encode_defunct(text=text), signature=rsv) == KNOWN_ADDRESS
    assert eth.recover_address(digest, signed.r, signed.s, signed.v - 27) == KNOWN_ADDRESS


def test_eip1559_signing_hash_and_raw_match_eth_account() -> None:
    for tx in (
        TX,
        {**TX, "to": None, "data": "0x6080604052", "value": 0},  # contract creation
        {
            **TX,
            "accessList": [{"address": TX["to"], "storageKeys": ["0x" + "00" * 31 + "01"]}],
            "value": hex(12345),
            "nonce": "0x10",
        },
    ):
        account = Account.create()
        parsed = eth.Eip1559Transaction.from_json(tx)
        theirs = account.sign_transaction({k: v for k, v in tx.items() if v is not None})
        unsigned = TypedTransaction.from_dict({k: v for k, v in tx.items() if v is not None})
        assert parsed.signing_hash() == bytes(unsigned.hash())
        out = parsed.signed(theirs.r, theirs.s, theirs.v)
        assert out.raw == bytes(theirs.raw_transaction)
        assert out.hash == bytes(theirs.hash)
        assert Account.recover_transaction(out.to_dict()["raw_tx"]) == account.address
        decoded = TypedTransaction.from_bytes(HexBytes(out.raw))
        assert decoded.transaction_type == 2


def test_type_is_optional_and_from_is_kept_apart() -> None:
    tx = {k: v for k, v in TX.items() if k != "type"}
    parsed = eth.Eip1559Transaction.from_json({**tx, "from": KNOWN_ADDRESS.lower()})
    assert parsed.sender == KNOWN_ADDRESS
    assert parsed.signing_hash() == eth.Eip1559Transaction.from_json(TX).signing_hash()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"type": 0}, "type 2"),
        ({"chainId": 0}, "chainId"),
        ({"nonce": -1}, "nonce"),
        ({"nonce": True}, "nonce"),
        ({"gas": "lots"}, "gas"),
        ({"to": "0x1234"}, "20-byte"),
        ({"to": "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, "checksum"),
        ({"data": "zz"}, "data"),
        ({"gasPrice": 1}, "unknown"),
        ({"maxPriorityFeePerGas": 10**12}, "exceed"),
        ({"accessList": [{"address": TX["to"]}]}, "accessList"),
    ],
)
def test_bad_transactions(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(eth.InvalidTransaction) as info:
        eth.Eip1559Transaction.from_json({**TX, **change})
    assert needle in str(info.value)


def test_missing_fields_and_not_an_object() -> None:
    with pytest.raises(eth.InvalidTransaction, match="missing"):
        eth.Eip1559Transaction.from_json({"chainId": 1})
    with pytest.raises(eth.InvalidTransaction, match="object"):
        eth.Eip1559Transaction.from_json([1, 2])


def test_signed_refuses_high_s() -> None:
    parsed = eth.Eip1559Transaction.from_json(TX)
    q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    with pytest.raises(ValueError):
        parsed.signed(1, q - 1, 0)
    with pytest.raises(ValueError):
        parsed.signed(1, 1, 2)
