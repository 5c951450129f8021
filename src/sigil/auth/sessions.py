"""Session tokens: compact ES256 JWTs signed by the service's own token key.

The token key is an ordinary P-256 key of the key service, owned by the principal
``sigil-service`` and created with ``jwt: true``, so ``/.well-known/jwks.json`` publishes it and
any relying party can verify a session with nothing but that document. Rotating that key (as
any key) keeps old sessions valid until they expire, since verification accepts every live
version.
"""

from __future__ import annotations

import secrets
import time
import weakref
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import select

from sigil.crypto import ecdsa, jwt
from sigil.crypto.ecdsa import PrivateKey
from sigil.crypto.encoding import b64url_encode, raw_from_rs
from sigil.errors import InvalidEncoding, InvalidSignature, SigilError, Unauthorized
from sigil.keys.context import Context
from sigil.keys.model import ENABLED, Principal
from sigil.keys.service import KeyService
from sigil.keys.signing import jwk_entries, signing_version
from sigil.keys.tokens import hash_token
from sigil.store.audit import now_us
from sigil.store.models import AuthDevice, Key
from sigil.store.models import Principal as PrincipalRow

SERVICE_PRINCIPAL = "sigil-service"
ISSUER = "sigil"
SESSION_LABEL = "sigil session tokens"
MAX_TOKEN_LEN = 4096

_key_ids: weakref.WeakKeyDictionary[Context, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class SessionClaims:
    user: str
    device_id: str
    expires_at: int  # unix seconds


def _service_principal(ctx: Context) -> Principal:
    """The ``sigil-service`` principal, created on first use. Its bearer token is random and
    thrown away: nobody can call the API as this principal."""
    with ctx.db.write() as session:
        row = session.execute(
            select(PrincipalRow).where(PrincipalRow.name == SERVICE_PRINCIPAL)
        ).scalar_one_or_none()
        if row is None:
            row = PrincipalRow(
                id="prn_" + secrets.token_hex(10),
                name=SERVICE_PRINCIPAL,
                token_hash=hash_token("sgl_" + secrets.token_urlsafe(32)),
                scopes="keys",
                created_at=now_us(),
            )
            session.add(row)
        return Principal(id=row.id, name=row.name, scopes=frozenset(row.scopes.split()))


def _find_service_key(ctx: Context) -> str | None:
    with ctx.db.read() as session:
        return session.execute(
            select(Key.id)
            .join(PrincipalRow, PrincipalRow.id == Key.principal_id)
            .where(PrincipalRow.name == SERVICE_PRINCIPAL, Key.jwt.is_(True), Key.state == ENABLED)
            .order_by(Key.created_at)
            .limit(1)
        ).scalar_one_or_none()


def ensure_service_key(ctx: Context, keys: KeyService) -> str:
    """The service token key's id, creating the principal and the key if missing (start-up)."""
    key_id = _find_service_key(ctx)
    if key_id is None:
        principal = _service_principal(ctx)
        key_id = str(keys.lifecycle.create(principal, "P-256", SESSION_LABEL, True)["key_id"])
    _key_ids[ctx] = key_id
    return key_id


def service_key_id(ctx: Context) -> str:
    """The token key's id, looked up once per worker."""
    key_id = _key_ids.get(ctx)
    if key_id is None:
        key_id = _find_service_key(ctx)
        if key_id is None:
            raise Unauthorized("the service has no session key yet", code="no_session_key")
        _key_ids[ctx] = key_id
    return key_id


def issue_session(
    ctx: Context, keys: KeyService, *, user: str, device_id: str, ttl: int = 3600
) -> tuple[str, int]:
    """A session JWT for ``user`` logged in with ``device_id``: (token, expires_at unix seconds)."""
    key_id = service_key_id(ctx)
    key = keys.lifecycle.load(key_id)
    if key is None:
        raise SigilError("the session key is missing")
    version = signing_version(key, None)
    now = int(time.time())
    expires_at = now + ttl
    claims = {
        "iss": ISSUER,
        "sub": user,
        "device_id": device_id,
        "iat": now,
        "exp": expires_at,
        "jti": secrets.token_urlsafe(12),
    }
    return _encode(keys.cache.private_key(key, version), claims, f"{key_id}:{version.version}"), expires_at


_headers: dict[tuple[str, str], str] = {}


def _encode(private: PrivateKey, claims: dict[str, object], kid: str) -> str:
    """``jwt.encode_jwt``, byte for byte (compact JSON, UTF-8, insertion order), on every login:
    the header part is made once per key version and the claims go through orjson."""
    head = _headers.get((kid, private.curve.jws_alg))
    if head is None:
        head = _headers[(kid, private.curve.jws_alg)] = b64url_encode(
            orjson.dumps({"alg": private.curve.jws_alg, "typ": "JWT", "kid": kid})
        )
    signing_input = f"{head}.{b64url_encode(orjson.dumps(claims))}"
    # DER from the hot path of ``ecdsa.sign`` (one backend call), then JWS's r||s: the same bytes
    # as ``encoding="raw"``, without its argument checks on every login.
    der = ecdsa.sign(private, message=signing_input.encode("ascii"), hash_name=private.curve.default_hash)
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url_encode(raw_from_rs(r, s, private.curve.byte_len))}"


def decode_session(ctx: Context, keys: KeyService, token: str, *, now: int | None = None) -> SessionClaims:
    """Verify the JWT's signature, issuer, expiry and claim types (no database access besides
    the cached token key). Raises Unauthorized."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LEN:
        raise Unauthorized("a session token is required", code="invalid_session")
    key = keys.lifecycle.load(service_key_id(ctx))
    if key is None:
        raise Unauthorized("invalid session token", code="invalid_session")
    try:
        claims = jwt.decode_jwt(token, dict(jwk_entries(key)), now=int(time.time()) if now is None else now)
    except InvalidSignature as exc:
        code = "session_expired" if exc.code == "token_expired" else "invalid_session"
        raise Unauthorized(
            "the session token has expired" if code == "session_expired" else "invalid session token",
            code=code,
        ) from None
    except InvalidEncoding:
        raise Unauthorized("invalid session token", code="invalid_session") from None
    user, device_id, exp = claims.get("sub"), claims.get("device_id"), claims.get("exp")
    if (
        claims.get("iss") != ISSUER
        or not isinstance(user, str)
        or not isinstance(device_id, str)
        or not isinstance(exp, int)
        or isinstance(exp, bool)
    ):
        raise Unauthorized("invalid session token", code="invalid_session")
    return SessionClaims(user=user, device_id=device_id, expires_at=exp)


def verify_session(ctx: Context, keys: KeyService, token: str) -> SessionClaims:
    """``decode_session``, and the device that logged in is still registered and not revoked:
    revoking a device ends its sessions at once."""
    claims = decode_session(ctx, keys, token)
    with ctx.db.read() as session:
        revoked_at = session.execute(
            select(AuthDevice.revoked_at).where(AuthDevice.id == claims.device_id)
        ).one_or_none()
    if revoked_at is None or revoked_at[0] is not None:
        raise Unauthorized("the session's device has been revoked", code="invalid_session")
    return claims
