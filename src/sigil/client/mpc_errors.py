"""The errors of the client's MPC flows, all ``ClientError``.

A locked pairing, a missing one, a wallet made but not paired, and a server whose answer disagrees with
what this client computed.
"""

from __future__ import annotations

from sigil.client.base import ClientError

__all__ = ["NoPairing", "PairingIncomplete", "PairingLocked", "ServerMismatch"]


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
