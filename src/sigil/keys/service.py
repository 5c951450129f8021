"""The key service as one object per worker process: tokens, lifecycle, signing, JWKS."""

from __future__ import annotations

from typing import Any

from sigil.crypto import jwt
from sigil.keys.context import Context
from sigil.keys.lifecycle import KeyLifecycle
from sigil.keys.model import DESTROYED
from sigil.keys.repository import KeyCache, load_where
from sigil.keys.signing import Signer, jwk_entries
from sigil.keys.tokens import TokenService
from sigil.store.models import Key


class KeyService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cache = KeyCache(ctx)
        self.tokens = TokenService(ctx)
        self.lifecycle = KeyLifecycle(ctx, self.cache)
        self.signer = Signer(ctx, self.cache, self.lifecycle)

    def service_jwks(self) -> dict[str, Any]:
        """JWKS of every key created with ``jwt: true`` (what relying parties fetch from
        ``/.well-known/jwks.json``)."""
        with self.ctx.db.read() as session:
            keys = load_where(session, Key.jwt.is_(True), Key.state != DESTROYED)
        entries = []
        for key in keys:
            entries.extend(jwk_entries(key))
        return jwt.jwks(entries)
