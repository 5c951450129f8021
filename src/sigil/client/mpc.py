"""``/v1/mpc`` over HTTP, and the client party's flows: create a wallet, pair, sign, recover.

``MpcClient`` has one method per route of the MPC API (docs/mpc.md; the JSON of every protocol message
is the ``to_json()`` of the :mod:`sigil.mpc` dataclasses). The functions below it drive the client's side
of each ceremony with the pure state machines of :mod:`sigil.mpc` and keep the client's secrets in the
local wallet store (:mod:`sigil.client.wallet_store`):

- ``create_wallet``: 2-party DKG (default; the full key never exists anywhere) or dealer mode (this client
  deals 2-of-3 shares and sends the server's share sealed to the server's transport key). The client keeps
  share 1 (local wallet file) and writes share 3 to the backup file, both sealed under the passphrase;
  then it pairs share 1 with the server.
- ``pair``: a fresh pairing (Paillier key, c_key, proofs) — also the way out of a locked pairing.
- ``sign_hash``: the two-round signature of a 32-byte hash. A signature that fails to verify locks the
  pairing here first (sealed flag) and then on the server (CVE-2023-33242): the pairing never signs again.
- ``sign_hash_with_backup``: the backup share (index 3) paired with the server for one signature.
- ``export_key``: the private key rebuilt OFFLINE from the local share and the backup share.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sigil.client.backup_file import BackupFile, default_backup_path, save_backup
from sigil.client.base import ApiError, BaseClient, ClientError
from sigil.client.local_wallet import LocalWallet, WalletSecrets, load_wallet, save_wallet, wallet_path
from sigil.errors import SigilError
from sigil.mpc import arith, keygen, pairing, ringpedersen, shares, sign
from sigil.mpc.errors import MpcError, SignatureFailed
from sigil.mpc.ethereum import address_from_private_key, address_from_public_key, recover_address

__all__ = [
    "CreatedWallet",
    "MpcClient",
    "MpcSignature",
    "NoPairing",
    "PairingIncomplete",
    "PairingLocked",
    "ServerMismatch",
    "create_wallet",
    "export_key",
    "open_backup",
    "pair",
    "resolve_server_url",
    "sign_hash",
    "sign_hash_with_backup",
]

PAILLIER_BITS = 2048


# --- errors ------------------------------------------------------------------------------------------


class PairingLocked(ClientError):
    """The pairing is locked after a failed signature; it will not sign again."""

    def __init__(self, wallet_id: str, pairing_id: str, reason: str | None = None) -> None:
        self.wallet_id = wallet_id
        self.pairing_id = pairing_id
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"pairing {pairing_id} of wallet {wallet_id} is locked{why}: it will not sign again "
            f"(a failed signature may leak the share, CVE-2023-33242). Re-pair with "
            f"`sigil mpc pair --wallet {wallet_id}`, or sign with the backup share "
            f"(`sigil mpc recover sign-message --wallet {wallet_id} --backup FILE ...`)"
        )


class NoPairing(ClientError):
    def __init__(self, wallet_id: str) -> None:
        super().__init__(f"wallet {wallet_id} has no pairing here: run `sigil mpc pair --wallet {wallet_id}`")


class PairingIncomplete(ClientError):
    """The wallet exists and both client shares are saved, but its first pairing failed."""

    def __init__(self, wallet_id: str, address: str, backup: str, reason: str) -> None:
        self.wallet_id = wallet_id
        super().__init__(
            f"wallet {wallet_id} ({address}) was created and its shares saved (backup: {backup}), "
            f"but pairing failed: {reason}. Run `sigil mpc pair --wallet {wallet_id}`"
        )


class ServerMismatch(ClientError):
    """The server's answer disagrees with what this client computed (never trusted, never stored)."""


# --- the HTTP client -------------------------------------------------------------------------------


def _q(value: str) -> str:
    return quote(value, safe="")


class MpcClient(BaseClient):
    """One method per ``/v1/mpc`` route; bodies and answers are the API's JSON objects."""

    def params(self) -> dict[str, Any]:
        """``GET /v1/mpc/params``: ``{curve, server_params, transport_key_pem}``."""
        return dict(self.get("/v1/mpc/params"))

    def start_keygen(self) -> dict[str, Any]:
        """``POST /v1/mpc/keygen``: ``{keygen_id, session_id, commitment, expires_at}``."""
        return dict(self.post("/v1/mpc/keygen", {}))

    def finish_keygen(
        self, keygen_id: str, message: Mapping[str, Any], label: str | None = None
    ) -> dict[str, Any]:
        """``POST /v1/mpc/keygen/{id}``: ``{wallet_id, address, public_key, public_shares, message}``."""
        body: dict[str, Any] = {"message": dict(message)}
        if label is not None:
            body["label"] = label
        return dict(self.post(f"/v1/mpc/keygen/{_q(keygen_id)}", body))

    def create_dealt_wallet(
        self, feldman: Mapping[str, Any], encrypted_share: Mapping[str, Any], label: str | None = None
    ) -> dict[str, Any]:
        """``POST /v1/mpc/wallets`` (dealer mode): ``{wallet_id, address, public_key, public_shares}``."""
        body: dict[str, Any] = {
            "mode": "dealer",
            "feldman": dict(feldman),
            "encrypted_share": dict(encrypted_share),
        }
        if label is not None:
            body["label"] = label
        return dict(self.post("/v1/mpc/wallets", body))

    def list_wallets(self) -> list[dict[str, Any]]:
        answer = self.get("/v1/mpc/wallets")
        rows = answer.get("wallets", []) if isinstance(answer, dict) else answer
        return [dict(row) for row in rows if isinstance(row, dict)]

    def get_wallet(self, wallet_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/mpc/wallets/{_q(wallet_id)}"))

    def start_pairing(self, wallet_id: str, client_index: int) -> dict[str, Any]:
        """``POST /v1/mpc/wallets/{id}/pairings``: ``{pairing_id, nonce, expires_at}``."""
        return dict(self.post(f"/v1/mpc/wallets/{_q(wallet_id)}/pairings", {"client_index": client_index}))

    def finish_pairing(self, pairing_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/mpc/pairings/{id}``: ``{pairing_id, state}``."""
        return dict(self.post(f"/v1/mpc/pairings/{_q(pairing_id)}", {"request": dict(request)}))

    def start_signing(self, pairing_id: str, message_hash: bytes) -> dict[str, Any]:
        """``POST /v1/mpc/pairings/{id}/sign``: ``{session_id, commitment, expires_at}``."""
        return dict(
            self.post(f"/v1/mpc/pairings/{_q(pairing_id)}/sign", {"message_hash": message_hash.hex()})
        )

    def continue_signing(self, session_id: str, nonce: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/mpc/sessions/{id}``: ``{reveal}`` (single use)."""
        return dict(self.post(f"/v1/mpc/sessions/{_q(session_id)}", {"nonce": dict(nonce)}))

    def lock_pairing(self, pairing_id: str, reason: str) -> dict[str, Any]:
        """``POST /v1/mpc/pairings/{id}/lock``: ``{pairing_id, state: "locked"}``."""
        return dict(self.post(f"/v1/mpc/pairings/{_q(pairing_id)}/lock", {"reason": reason}))


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedWallet:
    wallet_id: str
    address: str
    public_key: str
    backup: str
    pairing_id: str | None
    mode: str
    wallet_file: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "wallet_id": self.wallet_id,
            "address": self.address,
            "backup": self.backup,
            "public_key": self.public_key,
            "pairing_id": self.pairing_id,
            "mode": self.mode,
            "wallet_file": self.wallet_file,
        }


@dataclass(frozen=True, slots=True)
class MpcSignature:
    r: int
    s: int
    recovery_id: int
    pairing_id: str


# --- helpers -----------------------------------------------------------------------------------------


def _point_hex(point: arith.Point) -> str:
    return bytes(point.to_bytes(compressed=True)).hex()


def _public_fields(public: shares.WalletPublic) -> tuple[str, dict[str, str]]:
    """(public key hex, {"1": X1, "2": X2, "3": X3}) of a ``WalletPublic``."""
    return _point_hex(public.public_key), {str(i): _point_hex(p) for i, p in public.public_shares.items()}


def _check_server_view(answer: Mapping[str, Any], public_key: str, address: str) -> None:
    """The server's wallet must be the one this client computed: same public key, same address."""
    theirs = str(answer.get("public_key", "")).lower()
    if theirs and theirs != public_key:
        raise ServerMismatch("the server reports another public key than the one computed here")
    if str(answer.get("address", address)).lower() != address.lower():
        raise ServerMismatch("the server reports another address than the one computed here")


def _check_share(index: int, share: int, public: shares.WalletPublic) -> None:
    if arith.base_mul(share) != public.public_shares[index]:
        raise ServerMismatch(f"share {index} does not match its public commitment")


def _server_params(client: MpcClient) -> ringpedersen.ServerParams:
    return ringpedersen.ServerParams.from_json(client.params()["server_params"])


def _pair_share(
    client: MpcClient, public: shares.WalletPublic, wallet_id: str, index: int, share: int
) -> tuple[str, pairing.ClientPairing]:
    """One pairing of share ``index`` with the server: (pairing_id, ClientPairing)."""
    params = _server_params(client)
    answer = client.start_pairing(wallet_id, index)
    context = pairing.PairingContext(
        wallet_id=wallet_id,
        pairing_id=str(answer["pairing_id"]),
        nonce=bytes.fromhex(answer["nonce"]),
        client_index=index,
        public_key=public.public_key,
    )
    w = shares.additive_share(index, share, (min(index, shares.SERVER), max(index, shares.SERVER)))
    client_pairing, request = pairing.client_pair(context, w, params, paillier_bits=PAILLIER_BITS)
    client.finish_pairing(context.pairing_id, request.to_json())
    return context.pairing_id, client_pairing


def _two_rounds(
    client: MpcClient,
    *,
    wallet_id: str,
    pairing_id: str,
    client_pairing: pairing.ClientPairing,
    public: shares.WalletPublic,
    message_hash: bytes,
) -> sign.RecoverableSignature:
    """Lindell 2017 Protocol 3.2 as two HTTP round trips; raises ``SignatureFailed`` (caller locks)."""
    started = client.start_signing(pairing_id, message_hash)
    session_hex = str(started["session_id"])
    ctx = sign.SignContext(
        session_id=bytes.fromhex(session_hex),
        pairing_id=pairing_id,
        wallet_id=wallet_id,
        message_hash=message_hash,
    )
    state, nonce = sign.client_sign_nonce(ctx, sign.SignCommitment.from_json(started["commitment"]))
    answer = client.continue_signing(session_hex, nonce.to_json())
    signature = sign.client_sign_finish(
        state, sign.ServerReveal.from_json(answer["reveal"]), client_pairing, public.public_key
    )
    if signature.recovery_id > 1:  # R.x >= q (probability ~2^-128): Ethereum's v cannot say so
        raise ClientError("this signature cannot be expressed with Ethereum's v; sign again")
    # Ethereum names signers by address: the recovery id must lead back to this wallet.
    if recover_address(
        message_hash, signature.r, signature.s, signature.recovery_id
    ) != address_from_public_key(public.public_key):
        raise SignatureFailed("the signature does not recover to the wallet's address")
    return signature


def _lock_on_server(client: MpcClient, pairing_id: str, reason: str) -> None:
    # The local lock stands whatever happens here; a server that already locked it may answer 409.
    with contextlib.suppress(ClientError):
        client.lock_pairing(pairing_id, reason)


# --- flows -------------------------------------------------------------------------------------------


def create_wallet(
    client: MpcClient,
    passphrase: str,
    *,
    dealer: bool = False,
    label: str | None = None,
    backup_path: Path | None = None,
    home: Path | None = None,
) -> CreatedWallet:
    """Make a 2-of-3 wallet with the server, save share 1 and the backup share 3, pair share 1."""
    if dealer:
        public, x1, x3, answer = _dealer_keygen(client, label)
    else:
        public, x1, x3, answer = _dkg(client, label)
    wallet_id = str(answer["wallet_id"])
    public_key, public_shares = _public_fields(public)
    address = address_from_public_key(public.public_key)
    _check_server_view(answer, public_key, address)
    _check_share(shares.CLIENT, x1, public)
    _check_share(shares.BACKUP, x3, public)
    wallet_public = public.to_json()
    # Both shares are on disk before anything else can fail: the server already holds its share.
    backup = backup_path or default_backup_path(wallet_id)
    save_backup(
        BackupFile.seal(
            passphrase,
            x3,
            wallet_id=wallet_id,
            address=address,
            public_key=public_key,
            public_shares=public_shares,
            wallet_public=wallet_public,
        ),
        backup,
    )
    local = LocalWallet.create(
        passphrase,
        WalletSecrets(share=x1),
        wallet_id=wallet_id,
        address=address,
        public_key=public_key,
        public_shares=public_shares,
        wallet_public=wallet_public,
        label=label,
        server_url=client.url,
    )
    path = save_wallet(local, home)
    try:
        pairing_id = pair(client, wallet_id, passphrase, home=home)
    except (ClientError, MpcError) as exc:
        raise PairingIncomplete(wallet_id, address, str(backup), str(exc)) from None
    return CreatedWallet(
        wallet_id=wallet_id,
        address=address,
        public_key=public_key,
        backup=str(backup),
        pairing_id=pairing_id,
        mode="dealer" if dealer else "dkg",
        wallet_file=str(path),
    )


def _dkg(client: MpcClient, label: str | None) -> tuple[shares.WalletPublic, int, int, dict[str, Any]]:
    started = client.start_keygen()
    session_id = bytes.fromhex(started["session_id"])
    state, message = keygen.client_dkg_round(
        session_id, keygen.DkgCommitment.from_json(started["commitment"])
    )
    answer = client.finish_keygen(str(started["keygen_id"]), message.to_json(), label)
    public, x1, x3 = keygen.client_dkg_finish(state, keygen.DkgServerMessage.from_json(answer["message"]))
    return public, x1, x3, answer


def _dealer_keygen(
    client: MpcClient, label: str | None
) -> tuple[shares.WalletPublic, int, int, dict[str, Any]]:
    from sigil.mpc import transport  # dealer mode only (ECIES needs `cryptography`)

    transport_pem = str(client.params()["transport_key_pem"]).encode("ascii")
    feldman, dealt = shares.deal()
    sealed = transport.seal_share(transport_pem, dealt[shares.SERVER], keygen.dealer_aad(feldman))
    answer = client.create_dealt_wallet(feldman.to_json(), sealed, label)
    public = shares.WalletPublic.from_feldman(feldman)
    return public, dealt[shares.CLIENT], dealt[shares.BACKUP], answer


def _open_local(
    wallet_id: str, passphrase: str, home: Path | None
) -> tuple[LocalWallet, WalletSecrets, shares.WalletPublic]:
    local = load_wallet(wallet_id, home)
    secrets_ = local.unlock(passphrase)
    public = shares.WalletPublic.from_json(local.wallet_public)
    return local, secrets_, public


def pair(client: MpcClient, wallet_id: str, passphrase: str, *, home: Path | None = None) -> str:
    """A new pairing of this client's share with the server, saved (sealed) as the one to sign with."""
    local, secrets_, public = _open_local(wallet_id, passphrase, home)
    pairing_id, client_pairing = _pair_share(client, public, wallet_id, local.share_index, secrets_.share)
    updated = secrets_.with_pairing(pairing_id, local.share_index, client_pairing.to_json())
    save_wallet(local.reseal(passphrase, updated), home)
    return pairing_id


def _lock_locally(
    local: LocalWallet,
    secrets_: WalletSecrets,
    pairing_id: str,
    reason: str,
    passphrase: str,
    home: Path | None,
) -> None:
    save_wallet(local.reseal(passphrase, secrets_.with_lock(pairing_id, reason)), home)


def sign_hash(
    client: MpcClient, wallet_id: str, message_hash: bytes, passphrase: str, *, home: Path | None = None
) -> MpcSignature:
    """Sign 32 bytes with this client's newest pairing; lock it (here, then on the server) on failure."""
    if len(message_hash) != 32:
        raise ValueError("the message hash is 32 bytes")
    local, secrets_, public = _open_local(wallet_id, passphrase, home)
    found = secrets_.active_pairing(local.share_index)
    if found is None:
        raise NoPairing(wallet_id)
    pairing_id, entry = found
    if entry.get("locked"):
        raise PairingLocked(wallet_id, pairing_id, entry.get("reason"))
    client_pairing = pairing.ClientPairing.from_json(entry["client_pairing"])
    try:
        signature = _two_rounds(
            client,
            wallet_id=wallet_id,
            pairing_id=pairing_id,
            client_pairing=client_pairing,
            public=public,
            message_hash=message_hash,
        )
    except SignatureFailed:
        reason = "signature failed to verify"
        _lock_locally(local, secrets_, pairing_id, reason, passphrase, home)
        _lock_on_server(client, pairing_id, reason)
        raise PairingLocked(wallet_id, pairing_id, reason) from None
    except ApiError as exc:
        if exc.code == "mpc_pairing_locked":
            reason = "locked on the server"
            _lock_locally(local, secrets_, pairing_id, reason, passphrase, home)
            raise PairingLocked(wallet_id, pairing_id, reason) from None
        raise
    return MpcSignature(signature.r, signature.s, signature.recovery_id, pairing_id)


def open_backup(backup: BackupFile, passphrase: str) -> tuple[int, shares.WalletPublic]:
    """The backup share, checked against the wallet's public share 3: (x3, WalletPublic)."""
    x3 = backup.unlock(passphrase)
    public = shares.WalletPublic.from_json(backup.wallet_public)
    if _public_fields(public)[0] != backup.public_key:
        raise ServerMismatch("the backup file's public data is inconsistent")
    _check_share(shares.BACKUP, x3, public)
    return x3, public


def sign_hash_with_backup(
    client: MpcClient, backup: BackupFile, message_hash: bytes, passphrase: str
) -> MpcSignature:
    """Pair the backup share (index 3) with the server for this signature and sign.

    The pairing's Paillier key lives only in memory for this call: the backup share's secrets are never
    written next to the local share (the two together are the whole key).
    """
    if len(message_hash) != 32:
        raise ValueError("the message hash is 32 bytes")
    x3, public = open_backup(backup, passphrase)
    _check_server_view(client.get_wallet(backup.wallet_id), backup.public_key, backup.address)
    pairing_id, client_pairing = _pair_share(client, public, backup.wallet_id, shares.BACKUP, x3)
    try:
        signature = _two_rounds(
            client,
            wallet_id=backup.wallet_id,
            pairing_id=pairing_id,
            client_pairing=client_pairing,
            public=public,
            message_hash=message_hash,
        )
    except SignatureFailed:
        reason = "signature failed to verify"
        _lock_on_server(client, pairing_id, reason)
        raise PairingLocked(backup.wallet_id, pairing_id, reason) from None
    return MpcSignature(signature.r, signature.s, signature.recovery_id, pairing_id)


def export_key(
    wallet_id: str, backup: BackupFile, passphrase: str, *, home: Path | None = None
) -> tuple[int, str]:
    """OFFLINE: the private key from the local share (1) and the backup share (3), with its address.

    Nothing is sent anywhere; the key is checked against the wallet's public key before it is returned.
    """
    if backup.wallet_id != wallet_id:
        raise ServerMismatch(f"the backup file is for wallet {backup.wallet_id}, not {wallet_id}")
    local, secrets_, public = _open_local(wallet_id, passphrase, home)
    if local.public_key != backup.public_key:
        raise ServerMismatch("the backup file and the local wallet have different public keys")
    x3, _ = open_backup(backup, passphrase)
    _check_share(local.share_index, secrets_.share, public)
    key = shares.reconstruct({local.share_index: secrets_.share, shares.BACKUP: x3})
    address = address_from_private_key(key)
    if address != local.address or arith.base_mul(key) != public.public_key:
        raise ServerMismatch("the rebuilt key does not match the wallet's public key")
    return key, address


def resolve_server_url(wallet_id: str | None, home: Path | None = None) -> str | None:
    """``SIGIL_URL``, else the server the local wallet was made with (else the SDK default)."""
    env = os.environ.get("SIGIL_URL")
    if env or wallet_id is None or not wallet_path(wallet_id, home).exists():
        return env or None
    try:
        return load_wallet(wallet_id, home).server_url
    except SigilError:
        return None
