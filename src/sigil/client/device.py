"""``/v1/auth`` over HTTP for a device: register, challenge, verify (login), whoami, list, revoke.

The device's key and its signing live in :mod:`sigil.auth.device`; this module only talks HTTP.
It sends no API token: ``SIGIL_TOKEN`` is never attached to these requests; the only bearer it sends
is a session token, and only to the calls that need one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from sigil.auth.device import DeviceKey, decode_challenge
from sigil.client.base import DEFAULT_TIMEOUT, ApiError, BaseClient
from sigil.crypto.encoding import b64url_encode
from sigil.errors import InvalidEncoding


@dataclass(frozen=True, slots=True)
class Registration:
    device_id: str
    user: str

    def to_dict(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "user": self.user}


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge_id: str
    challenge: bytes  # the 32 bytes of H
    domain: str
    expires_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "challenge": b64url_encode(self.challenge),
            "domain": self.domain,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True, repr=False)
class LoginResult:
    session_token: str
    expires_at: Any
    user: str
    device_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_token": self.session_token,
            "expires_at": self.expires_at,
            "user": self.user,
            "device_id": self.device_id,
        }

    def __repr__(self) -> str:  # the token is a bearer credential: keep it out of logs
        return (
            f"LoginResult(user={self.user!r}, device_id={self.device_id!r}, expires_at={self.expires_at!r})"
        )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    user: str
    device_id: str
    expires_at: Any

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "device_id": self.device_id, "expires_at": self.expires_at}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    name: str | None
    kind: str
    created_at: Any
    revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "name": self.name,
            "kind": self.kind,
            "created_at": self.created_at,
            "revoked": self.revoked,
        }


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise ApiError(200, "bad_response", f"Response has no {name!r}")
    return body[name]


# --- the client --------------------------------------------------------------------------------------


class DeviceClient(BaseClient):
    """``/v1/auth`` over HTTP for a device. Errors: ``sigil.client.ClientError`` subclasses.

    ``session`` (constructor or per call) is a session token from ``login``; it is sent only as
    ``Authorization: Bearer`` to the calls that need one. ``SIGIL_TOKEN`` is never used.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        session: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token=session or "", timeout=timeout, transport=transport)
        self._session = session or None
        self._timeout = timeout
        self._transport = transport

    def _call(self, method: str, path: str, *, body: Any = None, session: str | None = None) -> Any:
        """One request; with a ``session`` other than the constructor's, over a short-lived client."""
        if session is None or session == self._session:
            return self.request(method, path, json=body)
        with BaseClient(self.url, token=session, timeout=self._timeout, transport=self._transport) as other:
            return other.request(method, path, json=body)

    # -- registration --

    def register(
        self, key: DeviceKey, *, user: str, name: str | None = None, session: str | None = None
    ) -> Registration:
        """Register ``key``'s public key for ``user`` (a new user needs open registration, an existing
        one that user's session)."""
        body: dict[str, Any] = {"user": user, "public_key": key.public_key_pem}
        if name is not None:
            body["name"] = name
        answer = self._call("POST", "/v1/auth/devices", body=body, session=session)
        return Registration(device_id=str(_field(answer, "device_id")), user=str(answer.get("user", user)))

    # -- login, one call per ceremony step --

    def challenge(self, user: str) -> Challenge:
        answer = self._call("POST", "/v1/auth/challenge", body={"user": user})
        raw = _field(answer, "challenge")
        try:
            h = decode_challenge(str(raw))
        except InvalidEncoding as exc:
            raise ApiError(200, "bad_response", "Malformed challenge", exc.detail) from None
        return Challenge(
            challenge_id=str(_field(answer, "challenge_id")),
            challenge=h,
            domain=str(answer.get("domain", "")),
            expires_at=str(answer.get("expires_at", "")),
        )

    def verify(self, *, challenge_id: str, device_id: str, signature: bytes) -> dict[str, Any]:
        """Send the DER signature (as base64url); the server's ``{session_token, expires_at}``."""
        body = {"challenge_id": challenge_id, "device_id": device_id, "signature": b64url_encode(signature)}
        answer = self._call("POST", "/v1/auth/verify", body=body)
        _field(answer, "session_token")
        return dict(answer)

    def login(self, key: DeviceKey, *, user: str, device_id: str) -> LoginResult:
        """Challenge → sign H → verify: a session token for ``user`` on ``device_id``."""
        ch = self.challenge(user)
        answer = self.verify(
            challenge_id=ch.challenge_id, device_id=device_id, signature=key.sign_challenge(ch.challenge)
        )
        return LoginResult(
            session_token=str(answer["session_token"]),
            expires_at=answer.get("expires_at"),
            user=user,
            device_id=device_id,
        )

    # -- with a session --

    def whoami(self, session: str | None = None) -> SessionInfo:
        answer = self._call("GET", "/v1/auth/session", session=session)
        return SessionInfo(
            user=str(_field(answer, "user")),
            device_id=str(answer.get("device_id", "")),
            expires_at=answer.get("expires_at"),
        )

    def list_devices(self, session: str | None = None) -> list[DeviceInfo]:
        answer = self._call("GET", "/v1/auth/devices", session=session)
        rows = _field(answer, "devices")
        if not isinstance(rows, list):
            raise ApiError(200, "bad_response", "devices is not a list")
        return [
            DeviceInfo(
                device_id=str(row.get("device_id")),
                name=row.get("name"),
                kind=str(row.get("kind", "")),
                created_at=row.get("created_at"),
                revoked=bool(row.get("revoked", False)),
            )
            for row in rows
            if isinstance(row, dict)
        ]

    def revoke_device(self, device_id: str, session: str | None = None) -> dict[str, Any]:
        answer = self._call("DELETE", f"/v1/auth/devices/{quote(device_id, safe='')}", session=session)
        return dict(answer) if isinstance(answer, dict) else {"device_id": device_id, "revoked": True}
