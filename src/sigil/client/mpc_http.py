"""``/v1/mpc`` over HTTP: ``MpcClient`` has one method per route of the MPC API (docs/mpc.md).

Bodies and answers are the API's JSON objects; the JSON of every protocol message is the ``to_json()`` of
the :mod:`sigil.mpc` dataclasses. The ceremonies that use these calls are in :mod:`sigil.client.mpc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sigil.client.base import BaseClient

__all__ = ["MpcClient"]


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
