"""``KeysClient``: the key service over HTTP (tokens, keys, sign, verify, JWT/JWKS, audit).

Every method maps to one endpoint of ``docs/api.md``. Metadata comes back as the API's JSON objects
(typed as ``TypedDict``); results of actions are frozen dataclasses whose fields are the API's fields.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NotRequired, TypedDict
from urllib.parse import quote

from sigil.client.base import BaseClient

Curve = Literal["P-256", "P-384", "secp256k1"]
Encoding = Literal["der", "raw", "rsv"]


class KeyVersion(TypedDict):
    version: int
    state: NotRequired[str]
    created_at: NotRequired[str]
    public_key_pem: str
    public_key_jwk: dict[str, Any]
    public_key_hex: NotRequired[str]
    address: NotRequired[str | None]


class KeyInfo(TypedDict):
    key_id: str
    curve: str
    label: NotRequired[str | None]
    state: NotRequired[str]
    jwt: NotRequired[bool]
    latest_version: NotRequired[int]
    created_at: NotRequired[str]
    deletion_date: NotRequired[str | None]
    versions: NotRequired[list[KeyVersion]]


class CreatedKey(TypedDict):
    key_id: str
    curve: str
    label: NotRequired[str | None]
    version: int
    state: NotRequired[str]
    jwt: NotRequired[bool]
    public_key_pem: str
    public_key_jwk: dict[str, Any]
    public_key_hex: NotRequired[str]
    address: NotRequired[str | None]
    created_at: NotRequired[str]


class PublicKeyInfo(TypedDict):
    key_id: str
    curve: str
    versions: list[KeyVersion]


class AuditEntry(TypedDict):
    seq: int
    time: str
    principal: str | None
    action: str
    key_id: str | None
    version: int | None
    message_sha256: str | None
    outcome: str
    prev_hash: str
    hash: str


class AuditReport(TypedDict):
    ok: bool
    entries: int
    first_bad_seq: int | None
    reason: NotRequired[str | None]


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: str
    name: str
    principal_id: str | None = None
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the token is a secret: keep it out of logs and tracebacks
        return f"CreatedToken(name={self.name!r}, principal_id={self.principal_id!r}, scopes={self.scopes!r})"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scopes"] = list(self.scopes)
        return out


@dataclass(frozen=True, slots=True)
class SignResult:
    key_id: str
    version: int
    encoding: str
    hash: str | None
    signature: str  # base64

    @property
    def signature_bytes(self) -> bytes:
        return base64.b64decode(self.signature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BatchSignResult:
    key_id: str
    version: int
    encoding: str
    hash: str | None
    signatures: tuple[str, ...]  # base64, in item order

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["signatures"] = list(self.signatures)
        return out


@dataclass(frozen=True, slots=True)
class JwtResult:
    token: str
    kid: str | None = None
    alg: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encode_digest(digest: bytes | str) -> str:
    """A digest for the API: bytes become hex; text (hex or base64) is passed through."""
    return digest.hex() if isinstance(digest, bytes) else digest


def encode_signature(signature: bytes | str) -> str:
    """A signature for the API: bytes become base64; text is assumed to be base64 already."""
    return base64.b64encode(signature).decode("ascii") if isinstance(signature, bytes) else signature


def message_fields(
    *, data: str | None = None, data_bytes: bytes | None = None, digest: bytes | str | None = None
) -> dict[str, str]:
    """Exactly one of the three message forms, as the API's fields."""
    given = [value for value in (data, data_bytes, digest) if value is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of data, data_bytes, digest")
    if data is not None:
        return {"data": data}
    if data_bytes is not None:
        return {"data_b64": base64.b64encode(data_bytes).decode("ascii")}
    assert digest is not None
    return {"digest": encode_digest(digest)}


def _batch_item(item: bytes | str, prehashed: bool) -> dict[str, str]:
    if prehashed:
        return {"digest": encode_digest(item)}
    if isinstance(item, bytes):
        return {"data_b64": base64.b64encode(item).decode("ascii")}
    return {"data": item}


def _signing_options(hash: str | None, encoding: str, low_s: bool, version: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {"encoding": encoding}
    if hash is not None:
        options["hash"] = hash
    if low_s:
        options["low_s"] = True
    if version is not None:
        options["version"] = version
    return options


def _key_path(key_id: str, suffix: str = "") -> str:
    return f"/v1/keys/{quote(key_id, safe='')}{suffix}"


class KeysClient(BaseClient):
    """Synchronous SDK for the key service.

    >>> with KeysClient() as sigil:                       # SIGIL_URL / SIGIL_TOKEN
    ...     key = sigil.create_key("P-256", label="release")
    ...     sig = sigil.sign(key["key_id"], data="hello")
    ...     assert sigil.verify(sig.signature, key_id=key["key_id"], data="hello")
    """

    # --- tokens ---------------------------------------------------------------------------------

    def create_token(self, name: str, scopes: Sequence[str] | None = None) -> CreatedToken:
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = list(scopes)
        out = self.post("/v1/tokens", body)
        return CreatedToken(
            token=out["token"],
            name=out["name"],
            principal_id=out.get("principal_id"),
            scopes=tuple(out.get("scopes") or ()),
        )

    # --- keys -----------------------------------------------------------------------------------

    def create_key(self, curve: Curve | str, label: str | None = None, jwt: bool = False) -> CreatedKey:
        body: dict[str, Any] = {"curve": curve, "jwt": jwt}
        if label is not None:
            body["label"] = label
        result: CreatedKey = self.post("/v1/keys", body)
        return result

    def list_keys(self) -> list[KeyInfo]:
        keys: list[KeyInfo] = self.get("/v1/keys")["keys"]
        return keys

    def get_key(self, key_id: str) -> KeyInfo:
        result: KeyInfo = self.get(_key_path(key_id))
        return result

    def public_key(self, key_id: str) -> PublicKeyInfo:
        result: PublicKeyInfo = self.get(_key_path(key_id, "/public"))
        return result

    def rotate(self, key_id: str) -> KeyInfo:
        result: KeyInfo = self.post(_key_path(key_id, "/rotate"))
        return result

    def disable(self, key_id: str, version: int | None = None) -> KeyInfo:
        body = {} if version is None else {"version": version}
        result: KeyInfo = self.post(_key_path(key_id, "/disable"), body)
        return result

    def enable(self, key_id: str, version: int | None = None) -> KeyInfo:
        body = {} if version is None else {"version": version}
        result: KeyInfo = self.post(_key_path(key_id, "/enable"), body)
        return result

    def schedule_deletion(self, key_id: str, pending_days: int = 30) -> KeyInfo:
        result: KeyInfo = self.delete(_key_path(key_id), params={"pending_days": pending_days})
        return result

    def cancel_deletion(self, key_id: str) -> KeyInfo:
        result: KeyInfo = self.post(_key_path(key_id, "/cancel-deletion"))
        return result

    # --- sign / verify --------------------------------------------------------------------------

    def sign(
        self,
        key_id: str,
        *,
        data: str | None = None,
        data_bytes: bytes | None = None,
        digest: bytes | str | None = None,
        hash: str | None = None,
        encoding: Encoding | str = "der",
        low_s: bool = False,
        version: int | None = None,
    ) -> SignResult:
        """Sign one message: UTF-8 ``data``, raw ``data_bytes``, or a prehashed ``digest``."""
        body = message_fields(data=data, data_bytes=data_bytes, digest=digest)
        body.update(_signing_options(hash, encoding, low_s, version))
        out = self.post(_key_path(key_id, "/sign"), body)
        return SignResult(
            key_id=out["key_id"],
            version=out["version"],
            encoding=out["encoding"],
            hash=out.get("hash"),
            signature=out["signature"],
        )

    def sign_batch(
        self,
        key_id: str,
        items: Sequence[bytes | str],
        *,
        prehashed: bool = False,
        hash: str | None = None,
        encoding: Encoding | str = "der",
        low_s: bool = False,
        version: int | None = None,
    ) -> BatchSignResult:
        """Sign up to 1,000 messages in one call; ``str`` items are text, ``bytes`` raw data.

        With ``prehashed=True`` every item is a digest (bytes, or hex/base64 text).
        """
        body: dict[str, Any] = {"items": [_batch_item(item, prehashed) for item in items]}
        body.update(_signing_options(hash, encoding, low_s, version))
        out = self.post(_key_path(key_id, "/sign"), body)
        return BatchSignResult(
            key_id=out["key_id"],
            version=out["version"],
            encoding=out["encoding"],
            hash=out.get("hash"),
            signatures=tuple(out["signatures"]),
        )

    def verify(
        self,
        signature: bytes | str,
        *,
        key_id: str | None = None,
        public_key: str | Mapping[str, Any] | None = None,
        curve: str | None = None,
        version: int | None = None,
        data: str | None = None,
        data_bytes: bytes | None = None,
        digest: bytes | str | None = None,
        hash: str | None = None,
        encoding: Encoding | str = "der",
        low_s: bool | None = None,
    ) -> bool:
        """Ask the server whether ``signature`` (bytes, or base64 text) is valid for the message.

        Identify the key by ``key_id`` (optionally ``version``) or give a ``public_key`` (PEM, JWK
        mapping, or SEC1 hex with ``curve``). An invalid signature is ``False``, not an exception.
        """
        if (key_id is None) == (public_key is None):
            raise ValueError("give exactly one of key_id, public_key")
        body: dict[str, Any] = message_fields(data=data, data_bytes=data_bytes, digest=digest)
        if key_id is not None:
            body["key_id"] = key_id
            if version is not None:
                body["version"] = version
        else:
            body["public_key"] = dict(public_key) if isinstance(public_key, Mapping) else public_key
            if curve is not None:
                body["curve"] = curve
        body["signature"] = encode_signature(signature)
        body["encoding"] = encoding
        if hash is not None:
            body["hash"] = hash
        if low_s is not None:
            body["low_s"] = low_s
        return bool(self.post("/v1/verify", body)["valid"])

    # --- JWT / JWKS -----------------------------------------------------------------------------

    def issue_jwt(self, key_id: str, claims: Mapping[str, Any], expires_in: int | None = None) -> JwtResult:
        body: dict[str, Any] = {"claims": dict(claims)}
        if expires_in is not None:
            body["expires_in"] = expires_in
        out = self.post(_key_path(key_id, "/jwt"), body)
        return JwtResult(token=out["token"], kid=out.get("kid"), alg=out.get("alg"))

    def jwks(self, key_id: str | None = None) -> dict[str, Any]:
        path = "/.well-known/jwks.json" if key_id is None else _key_path(key_id, "/jwks.json")
        result: dict[str, Any] = self.get(path)
        return result

    # --- audit (admin) --------------------------------------------------------------------------

    def audit(self, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        entries: list[AuditEntry] = self.get("/v1/audit", params={"after": after, "limit": limit})["entries"]
        return entries

    def audit_verify(self) -> AuditReport:
        result: AuditReport = self.get("/v1/audit/verify")
        return result

    # --- health ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/healthz")
        return result
