"""Signing, verification and JWT issuing with the key service's keys.

The sign path is the hot path: a cache hit costs a dict lookup and the change-counter read, the
signature is made by ``sigil.crypto`` and the audit event is queued, never written inline.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sigil.crypto import ecdsa, jwt
from sigil.crypto.curves import HASH_SIZES
from sigil.crypto.ecdsa import PrivateKey, PublicKey
from sigil.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from sigil.keys.context import Context
from sigil.keys.lifecycle import KeyLifecycle
from sigil.keys.model import DESTROYED, ENABLED, LoadedKey, LoadedVersion, Principal
from sigil.keys.repository import KeyCache, owned
from sigil.store.audit import AuditEvent, batch_event

MAX_JWT_LIFETIME = 31_536_000  # one year, in seconds


class Message(NamedTuple):  # NamedTuple: immutable and cheap to build (one per batch item)
    """What is signed or verified: the message itself, or its digest under ``hash_name``."""

    message: bytes | None = None
    digest: bytes | None = None

    def audit_sha256(self, hash_name: str) -> bytes:
        """The audit log's "SHA-256 of the signed message": computed from the message when we have
        it; a SHA-256 digest is that value already; another digest is recorded hashed once more."""
        if self.message is not None:
            return hashlib.sha256(self.message).digest()
        assert self.digest is not None
        if hash_name == "SHA-256":
            return self.digest
        return hashlib.sha256(self.digest).digest()


class SignOptions(NamedTuple):
    hash_name: str | None = None
    encoding: str = "der"
    low_s: bool = False
    version: int | None = None


class Signed(NamedTuple):
    key_id: str
    version: int
    encoding: str
    hash_name: str
    signatures: list[bytes]


class Signer:
    def __init__(self, ctx: Context, cache: KeyCache, lifecycle: KeyLifecycle) -> None:
        self._ctx = ctx
        self._cache = cache
        self._lifecycle = lifecycle

    def sign_with(
        self, principal: Principal, key: LoadedKey, messages: Sequence[Message], opts: SignOptions
    ) -> Signed:
        """Sign with a loaded key that the caller has checked belongs to ``principal`` (the route
        loads it through the cache, see ``sigil.server.http.load_key``)."""
        if not 1 <= len(messages) <= self._ctx.limits.max_batch_items:
            raise PayloadTooLarge(f"a batch holds 1..{self._ctx.limits.max_batch_items} items")
        key_id = key.key_id
        hash_name = opts.hash_name or key.curve.default_hash
        try:
            version = signing_version(key, opts.version)
            private = self._cache.private_key(key, version)
            signatures = self._sign_all(private, messages, hash_name, opts)
        except Exception as exc:
            self._ctx.audit.record(
                AuditEvent(
                    principal.name,
                    "sign",
                    outcome=getattr(exc, "code", "error"),
                    key_id=key_id,
                    version=opts.version,
                )
            )
            raise
        self._ctx.audit.record(sign_event(principal.name, key_id, version.version, messages, hash_name))
        return Signed(key_id, version.version, opts.encoding, hash_name, signatures)

    @staticmethod
    def _sign_all(
        private: PrivateKey, messages: Sequence[Message], hash_name: str, opts: SignOptions
    ) -> list[bytes]:
        if len(messages) > 1 and all(m.message is not None for m in messages):
            return ecdsa.sign_batch(
                private,
                messages=[m.message for m in messages if m.message is not None],
                hash_name=hash_name,
                encoding=opts.encoding,
                low_s=opts.low_s,
            )
        return [
            ecdsa.sign(
                private,
                message=m.message,
                digest=m.digest,
                hash_name=hash_name,
                encoding=opts.encoding,
                low_s=opts.low_s,
            )
            for m in messages
        ]

    # --- verify -------------------------------------------------------------------------------

    def verify_with_key(
        self, key: LoadedKey, version: int | None, message: Message, signature: bytes, opts: SignOptions
    ) -> tuple[bool, int | None]:
        hash_name = opts.hash_name or key.curve.default_hash
        for v in verification_versions(key, version):
            if verify_signature(v.public_key, message, signature, hash_name, opts):
                return True, v.version
        return False, None

    # --- JWT ------------------------------------------------------------------------------------

    def issue_jwt(
        self, principal: Principal, key_id: str, claims: Mapping[str, Any], expires_in: int | None
    ) -> tuple[str, str, str]:
        key = owned(self._lifecycle.load(key_id), principal, key_id)
        version = signing_version(key, None)
        if expires_in is not None and not 1 <= expires_in <= MAX_JWT_LIFETIME:
            raise BadRequest(f"expires_in must be 1..{MAX_JWT_LIFETIME} seconds", code="validation_error")
        now = int(time.time())
        body = {**claims, "iat": now}
        if expires_in is not None:
            body["exp"] = now + expires_in
        kid = f"{key.key_id}:{version.version}"
        token = jwt.encode_jwt(self._cache.private_key(key, version), body, kid=kid)
        signing_input = token.rsplit(".", 1)[0].encode()
        self._ctx.audit.record(
            AuditEvent(
                principal.name,
                "jwt",
                key_id=key_id,
                version=version.version,
                message_sha256=hashlib.sha256(signing_input).hexdigest(),
            )
        )
        return token, kid, key.curve.jws_alg

    def jwks_for(self, key_id: str) -> dict[str, Any]:
        key = self._lifecycle.load(key_id)
        if key is None:
            raise NotFound(f"no key {key_id!r}")
        return jwt.jwks(jwk_entries(key))


def verification_versions(key: LoadedKey, wanted: int | None) -> list[LoadedVersion]:
    """The versions a signature may be checked against: ``wanted``, or every version not destroyed,
    newest first; 409 once the key (or that version) is destroyed."""
    if key.state == DESTROYED:
        raise Conflict("the key is destroyed", code="key_destroyed")
    if wanted is None:
        return sorted(key.live_versions(), key=lambda v: -v.version)
    version = key.versions.get(wanted)
    if version is None:
        raise NotFound(f"key {key.key_id!r} has no version {wanted}")
    if version.state == DESTROYED:
        raise Conflict(f"version {wanted} is destroyed", code="version_destroyed")
    return [version]


def signing_version(key: LoadedKey, wanted: int | None) -> LoadedVersion:
    """The version to sign with: ``wanted``, or the newest enabled one; 409 when the key or that
    version may not sign."""
    if key.state != ENABLED:
        raise Conflict(f"the key is {key.state.replace('_', ' ')}", code=f"key_{key.state}")
    if wanted is not None:
        version = key.versions.get(wanted)
        if version is None:
            raise NotFound(f"key {key.key_id!r} has no version {wanted}")
        if version.state != ENABLED:
            raise Conflict(f"version {wanted} is {version.state}", code=f"version_{version.state}")
        return version
    for number in sorted(key.versions, reverse=True):
        if key.versions[number].state == ENABLED:
            return key.versions[number]
    raise Conflict("the key has no enabled version", code="version_disabled")


def sign_event(
    principal: str, key_id: str, version: int, messages: Sequence[Message], hash_name: str
) -> AuditEvent:
    """One audit event per request: a batch records every item's SHA-256 in one entry."""
    if len(messages) == 1:
        sha = messages[0].audit_sha256(hash_name).hex()
        return AuditEvent(principal, "sign", key_id=key_id, version=version, message_sha256=sha)
    digests = [m.audit_sha256(hash_name) for m in messages]
    return batch_event(principal, "sign", digests, key_id=key_id, version=version)


def jwk_entries(key: LoadedKey) -> list[tuple[str, PublicKey]]:
    return [(f"{key.key_id}:{v.version}", v.public_key) for v in key.live_versions()]


def verify_signature(
    public_key: PublicKey, message: Message, signature: bytes, hash_name: str, opts: SignOptions
) -> bool:
    return ecdsa.verify(
        public_key,
        signature,
        message=message.message,
        digest=message.digest,
        hash_name=hash_name,
        encoding=opts.encoding,
        low_s=opts.low_s,
    )


def digest_size(hash_name: str) -> int:
    size = HASH_SIZES.get(hash_name)
    if size is None:
        raise BadRequest(f"unknown hash {hash_name!r}; known: {sorted(HASH_SIZES)}", code="unsupported_hash")
    return size
