"""The local wallet file: this client's share and its pairings, sealed under the passphrase.

One file per wallet, ``$SIGIL_HOME/mpc/<wallet_id>.json``; the format is in :mod:`sigil.client.wallet_store`.
The sealed ``locked`` flag of a pairing is the one that counts (the clear copy only saves a passphrase when
listing). No share, Paillier factor or pairing secret appears in a repr, an exception message or the clear
part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sigil.auth.keystore import (
    KeystoreCorrupt,
    KeystoreError,
    KeystoreNotFound,
    sigil_home,
    write_private_file,
)
from sigil.client.wallet_sealing import (
    STORE_VERSION,
    bound_aad,
    check_wallet_id,
    dump_store_file,
    open_payload,
    read_store_file,
    required_str,
    seal_payload,
    share_from_hex,
    stored_public_fields,
)

__all__ = [
    "WALLET_KIND",
    "LocalWallet",
    "PairingRecord",
    "WalletSecrets",
    "list_wallets",
    "load_wallet",
    "save_wallet",
    "wallet_path",
    "wallets_dir",
]

WALLET_KIND = "sigil-mpc-wallet"


# --- locations ---------------------------------------------------------------------------------------


def wallets_dir(home: Path | None = None) -> Path:
    return (home or sigil_home()) / "mpc"


def wallet_path(wallet_id: str, home: Path | None = None) -> Path:
    return wallets_dir(home) / f"{check_wallet_id(wallet_id)}.json"


# --- the local wallet --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairingRecord:
    """A pairing as the clear part lists it (no secret)."""

    pairing_id: str
    client_index: int
    locked: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairing_id": self.pairing_id,
            "client_index": self.client_index,
            "locked": self.locked,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, repr=False)
class WalletSecrets:
    """What the passphrase protects: this client's share and its pairings' secrets (Paillier key, w1)."""

    share: int
    pairings: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # pid -> {client_pairing, locked, reason}

    def to_bytes(self) -> bytes:
        body = {"share": format(self.share, "x"), "pairings": self.pairings}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> WalletSecrets:
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise KeystoreCorrupt("sealed wallet payload is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("pairings"), dict):
            raise KeystoreCorrupt("sealed wallet payload is malformed")
        for pid, entry in body["pairings"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("client_pairing"), dict):
                raise KeystoreCorrupt(f"sealed pairing {pid} is malformed")
        return cls(share=share_from_hex(body.get("share")), pairings=body["pairings"])

    def active_pairing(self, client_index: int) -> tuple[str, dict[str, Any]] | None:
        """The newest pairing of ``client_index`` (highest ``seq``), if any."""
        mine = [
            (int(e.get("seq", 0)), pid, e)
            for pid, e in self.pairings.items()
            if e.get("client_index", 1) == client_index
        ]
        if not mine:
            return None
        _, pid, entry = max(mine, key=lambda item: item[0])
        return pid, entry

    def with_pairing(
        self, pairing_id: str, client_index: int, client_pairing: dict[str, Any]
    ) -> WalletSecrets:
        pairings = dict(self.pairings)
        seq = 1 + max((int(e.get("seq", 0)) for e in pairings.values()), default=0)
        pairings[pairing_id] = {
            "client_pairing": client_pairing,
            "client_index": client_index,
            "locked": False,
            "reason": None,
            "seq": seq,
        }
        return replace(self, pairings=pairings)

    def with_lock(self, pairing_id: str, reason: str) -> WalletSecrets:
        pairings = dict(self.pairings)
        entry = dict(pairings.get(pairing_id, {"client_pairing": {}, "client_index": 1}))
        entry.update(locked=True, reason=reason)
        pairings[pairing_id] = entry
        return replace(self, pairings=pairings)

    def __repr__(self) -> str:
        return f"WalletSecrets(<share hidden>, pairings={sorted(self.pairings)})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, repr=False)
class LocalWallet:
    """One wallet file: public data in clear, the secrets sealed (``sealed`` is the encrypted part)."""

    wallet_id: str
    address: str
    public_key: str  # compressed SEC1 hex
    public_shares: dict[str, str]
    wallet_public: dict[str, Any]
    sealed: dict[str, Any]
    share_index: int = 1
    label: str | None = None
    server_url: str | None = None
    pairings: tuple[PairingRecord, ...] = ()

    @property
    def _aad(self) -> bytes:
        return bound_aad(WALLET_KIND, self.wallet_id, self.public_key, self.share_index)

    @classmethod
    def create(
        cls,
        passphrase: str,
        secrets_: WalletSecrets,
        *,
        wallet_id: str,
        address: str,
        public_key: str,
        public_shares: Mapping[str, str],
        wallet_public: Mapping[str, Any],
        share_index: int = 1,
        label: str | None = None,
        server_url: str | None = None,
    ) -> LocalWallet:
        blank = cls(
            wallet_id=check_wallet_id(wallet_id),
            address=address,
            public_key=public_key.lower(),
            public_shares={str(k): v for k, v in public_shares.items()},
            wallet_public=dict(wallet_public),
            sealed={},
            share_index=share_index,
            label=label,
            server_url=server_url,
        )
        return blank.reseal(passphrase, secrets_)

    def unlock(self, passphrase: str) -> WalletSecrets:
        """The sealed secrets; ``WrongPassphrase`` for a wrong passphrase or an edited bound field."""
        return WalletSecrets.from_bytes(open_payload(self.sealed, passphrase, self._aad))

    def reseal(self, passphrase: str, secrets_: WalletSecrets) -> LocalWallet:
        """The same wallet with new secrets (fresh salt and nonce) and the clear pairing list updated."""
        records = tuple(
            PairingRecord(
                pairing_id=pid,
                client_index=int(entry.get("client_index", 1)),
                locked=bool(entry.get("locked")),
                reason=entry.get("reason"),
            )
            for pid, entry in sorted(secrets_.pairings.items(), key=lambda item: int(item[1].get("seq", 0)))
        )
        sealed = seal_payload(passphrase, secrets_.to_bytes(), self._aad)
        return replace(self, sealed=sealed, pairings=records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STORE_VERSION,
            "kind": WALLET_KIND,
            "wallet_id": self.wallet_id,
            "address": self.address,
            "public_key": self.public_key,
            "public_shares": self.public_shares,
            "label": self.label,
            "server_url": self.server_url,
            "share_index": self.share_index,
            "wallet_public": self.wallet_public,
            "pairings": [p.to_dict() for p in self.pairings],
            **self.sealed,
        }

    def summary(self) -> dict[str, Any]:
        """The public facts, for ``list``/``address`` output."""
        return {
            "wallet_id": self.wallet_id,
            "address": self.address,
            "public_key": self.public_key,
            "label": self.label,
            "server_url": self.server_url,
            "pairings": [p.to_dict() for p in self.pairings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalWallet:
        if data.get("kind") != WALLET_KIND:
            raise KeystoreCorrupt("not a Sigil MPC wallet file")
        shares = data.get("public_shares")
        public = data.get("wallet_public")
        index = data.get("share_index")
        if not isinstance(shares, dict) or not isinstance(public, dict) or index not in (1, 3):
            raise KeystoreCorrupt("wallet file is malformed")
        records = []
        for item in data.get("pairings") or []:
            if not isinstance(item, dict) or not isinstance(item.get("pairing_id"), str):
                raise KeystoreCorrupt("wallet file has a malformed pairing")
            records.append(
                PairingRecord(
                    pairing_id=item["pairing_id"],
                    client_index=int(item.get("client_index", 1)),
                    locked=bool(item.get("locked")),
                    reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
                )
            )
        return cls(
            **stored_public_fields(data, shares, public),
            share_index=index,
            label=required_str(data, "label", optional=True),
            server_url=required_str(data, "server_url", optional=True),
            pairings=tuple(records),
        )

    def __repr__(self) -> str:
        return f"LocalWallet(wallet_id={self.wallet_id!r}, address={self.address!r})"

    __str__ = __repr__


def save_wallet(wallet: LocalWallet, home: Path | None = None) -> Path:
    target = wallet_path(wallet.wallet_id, home)
    write_private_file(target, dump_store_file(wallet.to_dict()))
    return target


def load_wallet(wallet_id: str, home: Path | None = None) -> LocalWallet:
    path = wallet_path(wallet_id, home)
    if not path.exists():
        raise KeystoreNotFound(f"wallet {wallet_id} has no local share here ({path})")
    return LocalWallet.from_dict(read_store_file(path, "wallet file"))


def list_wallets(home: Path | None = None) -> list[LocalWallet]:
    folder = wallets_dir(home)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            out.append(LocalWallet.from_dict(read_store_file(path, "wallet file")))
        except KeystoreError:
            continue  # a stray or damaged file is not a wallet; `address`/`sign` name it when asked
    return out
