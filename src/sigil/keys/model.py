"""Domain values of the key service: what a key, a version and a principal look like to callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sigil.crypto.curves import Curve
from sigil.crypto.ecdsa import PrivateKey, PublicKey

# Key states (KMS-style): a key signs only when ENABLED; verify works until DESTROYED.
ENABLED, DISABLED, PENDING_DELETION, DESTROYED = "enabled", "disabled", "pending_deletion", "destroyed"
KEY_STATES = (ENABLED, DISABLED, PENDING_DELETION, DESTROYED)
VERSION_STATES = (ENABLED, DISABLED, DESTROYED)

SCOPE_KEYS, SCOPE_ADMIN = "keys", "admin"
SCOPES = (SCOPE_KEYS, SCOPE_ADMIN)


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    name: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or SCOPE_ADMIN in self.scopes


@dataclass(slots=True)
class LoadedVersion:
    """A key version as held in a worker's cache. The private key is opened from its sealed blob
    on first use and never leaves this object except into ``sigil.crypto``."""

    version: int
    state: str
    public_key: PublicKey
    created_at: int
    sealed_private: bytes | None
    private: PrivateKey | None = None


@dataclass(slots=True)
class LoadedKey:
    key_id: str
    principal_id: str
    curve: Curve
    label: str | None
    state: str
    jwt: bool
    latest_version: int
    created_at: int
    deletion_at: int | None
    versions: dict[int, LoadedVersion] = field(default_factory=dict)

    def live_versions(self) -> list[LoadedVersion]:
        return [v for v in sorted(self.versions.values(), key=_by_version) if v.state != DESTROYED]


def iso_time(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public_fields(key: LoadedKey, version: LoadedVersion) -> dict[str, Any]:
    from sigil.crypto.keys import ethereum_address, public_key_hex, public_key_jwk, public_key_pem

    pk = version.public_key
    return {
        "version": version.version,
        "public_key_pem": public_key_pem(pk),
        "public_key_jwk": public_key_jwk(pk),
        "public_key_hex": public_key_hex(pk),
        "address": ethereum_address(pk) if key.curve.name == "secp256k1" else None,
    }


def key_metadata(key: LoadedKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "curve": key.curve.name,
        "label": key.label,
        "state": key.state,
        "jwt": key.jwt,
        "latest_version": key.latest_version,
        "created_at": iso_time(key.created_at),
        "deletion_date": iso_time(key.deletion_at),
        "versions": [_version_metadata(key, v) for v in sorted(key.versions.values(), key=_by_version)],
    }


def _by_version(v: LoadedVersion) -> int:
    return v.version


def _version_metadata(key: LoadedKey, version: LoadedVersion) -> dict[str, Any]:
    common = {"version": version.version, "state": version.state, "created_at": iso_time(version.created_at)}
    if version.state == DESTROYED:  # the public key goes with the private one
        return common
    return {**public_fields(key, version), **common}
