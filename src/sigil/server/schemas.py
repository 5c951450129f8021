"""Request and response models shared by the keys routes (validation at the boundary, STYLE.md §10).

Request models are strict (no type coercion) and forbid unknown fields, so a typo is a 422 rather
than a silently ignored option. Response models exist to document the API in ``/openapi.json``;
the hot path serialises plain dicts with orjson.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from sigil.crypto.curves import CURVES, HASH_SIZES
from sigil.crypto.encoding import b64decode, decode_digest
from sigil.errors import BadRequest
from sigil.keys.signing import Message, SignOptions, digest_size

Encoding = Literal["der", "raw", "rsv"]
CURVE_NAMES: list[JsonValue] = list(CURVES)
HASH_NAMES: list[JsonValue] = list(HASH_SIZES)
MAX_TEXT = 1_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MessageFields(Strict):
    data: str | None = Field(None, max_length=MAX_TEXT, description="UTF-8 text to hash and sign")
    data_b64: str | None = Field(None, description="base64 bytes to hash and sign")
    digest: str | None = Field(None, description="prehashed digest, hex or base64; length must match `hash`")

    def to_message(self, hash_name: str) -> Message:
        given = [f for f in ("data", "data_b64", "digest") if getattr(self, f) is not None]
        if len(given) != 1:
            raise BadRequest("give exactly one of data, data_b64, digest", code="validation_error")
        if self.data is not None:
            return Message(message=self.data.encode())
        if self.data_b64 is not None:
            return Message(message=b64decode(self.data_b64))
        assert self.digest is not None
        return Message(digest=decode_digest(self.digest, digest_size(hash_name)))


class SignatureOptions(Strict):
    hash: str | None = Field(
        None,
        description="SHA-256 (default; SHA-384 on P-384), SHA-384, SHA-512, KECCAK-256 (secp256k1)",
        json_schema_extra={"enum": HASH_NAMES},
    )
    encoding: Encoding = Field("der", description="der | raw (r||s) | rsv (r||s||v, secp256k1, low-S)")
    low_s: bool = Field(False, description="normalise s <= n/2 (always on for rsv)")


class SignItem(MessageFields):
    pass


class SignRequest(MessageFields, SignatureOptions):
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="sign with this version")
    items: list[SignItem] | None = Field(None, min_length=1, description="batch: 1..1000 messages")

    def options(self) -> SignOptions:
        return SignOptions(
            hash_name=self.hash, encoding=self.encoding, low_s=self.low_s, version=self.version
        )


class VerifyRequest(MessageFields, SignatureOptions):
    key_id: str | None = Field(None, max_length=64)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    public_key: str | dict[str, Any] | None = Field(None, description="PEM SPKI, JWK object, or SEC1 hex")
    curve: str | None = Field(
        None, description="needed with a hex public key", json_schema_extra={"enum": CURVE_NAMES}
    )
    signature: str = Field(..., max_length=4096, description="base64 signature")

    def options(self) -> SignOptions:
        return SignOptions(hash_name=self.hash, encoding=self.encoding, low_s=self.low_s)


class CreateKeyRequest(Strict):
    curve: str = Field(..., json_schema_extra={"enum": CURVE_NAMES})
    label: str | None = Field(None, max_length=200)
    jwt: bool = Field(False, description="publish this key in /.well-known/jwks.json")


class VersionRequest(Strict):
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class TokenRequest(Strict):
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    scopes: list[Literal["keys", "admin"]] | None = None


class JwtRequest(Strict):
    claims: dict[str, Any]
    expires_in: int | None = Field(None, ge=1, le=31_536_000)


# --- responses (documentation) ---------------------------------------------------------------


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TokenResponse(Open):
    token: str
    name: str
    principal_id: str
    scopes: list[str]


class VersionInfo(Open):
    version: int
    state: str
    created_at: str | None = None
    public_key_pem: str | None = None
    public_key_jwk: dict[str, Any] | None = None
    public_key_hex: str | None = None
    address: str | None = None


class KeyMetadata(Open):
    key_id: str
    curve: str
    label: str | None = None
    state: str
    jwt: bool
    latest_version: int
    created_at: str | None = None
    deletion_date: str | None = None
    versions: list[VersionInfo]


class CreatedKey(KeyMetadata):
    version: int
    public_key_pem: str
    public_key_jwk: dict[str, Any]
    public_key_hex: str
    address: str | None = None


class KeyList(Open):
    keys: list[KeyMetadata]


class PublicKeys(Open):
    key_id: str
    curve: str
    versions: list[VersionInfo]


class SignResponse(Open):
    key_id: str
    version: int
    encoding: str
    hash: str
    signature: str | None = None
    signatures: list[str] | None = None


class VerifyResponse(Open):
    valid: bool
    key_id: str | None = None
    version: int | None = None


class JwtResponse(Open):
    token: str
    kid: str
    alg: str


class Jwks(Open):
    keys: list[dict[str, Any]]
