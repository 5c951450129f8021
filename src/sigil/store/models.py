"""SQLAlchemy 2 models. Times are integer microseconds since the Unix epoch (UTC) so that they
compare, sort and hash the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Principal(Base):
    """A caller. Its bearer token is stored only as SHA-256 (tokens are 256-bit random, so a
    fast hash is enough: there is nothing to brute-force)."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    created_at: Mapped[int] = mapped_column(BigInteger)


class Key(Base):
    __tablename__ = "keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    curve: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # enabled | disabled | pending_deletion | destroyed
    state: Mapped[str] = mapped_column(String(20))
    jwt: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    latest_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    deletion_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class KeyVersion(Base):
    __tablename__ = "key_versions"

    key_id: Mapped[str] = mapped_column(ForeignKey("keys.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(133))  # SEC1 uncompressed
    # AES-256-GCM blob (sigil.store.sealing); NULL once the version is destroyed.
    sealed_private: Mapped[bytes | None] = mapped_column(LargeBinary(128), nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # enabled | disabled | destroyed
    created_at: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """One audit event. ``hash`` = HMAC-SHA-256(audit key, prev_hash || canonical entry), so an
    edited, inserted or removed entry breaks the chain (sigil.store.audit.verify_chain)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    # Batch requests: each item's SHA-256, concatenated; message_sha256 = SHA-256 of this.
    digests: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_key", "key_id"),)


class AuditHead(Base):
    """The chain's tip in a single row. Appends lock it, which serialises writers across worker
    processes and nodes, and it lets verification notice a truncated tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


# --- device-key login (issue 4) ----------------------------------------------------------------


class AuthUser(Base):
    """A person who logs in with device keys or passkeys (not a key-service principal)."""

    __tablename__ = "auth_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "usr_" + hex
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class AuthDevice(Base):
    """A device's public key: SEC1 uncompressed P-256 (kind "ecdsa") or COSE key bytes
    (kind "webauthn"). The private key never reaches the server."""

    __tablename__ = "auth_devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "dev_" + hex
    user_id: Mapped[str] = mapped_column(ForeignKey("auth_users.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # ecdsa | webauthn
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, unique=True)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str | None] = mapped_column(String(200), nullable=True)
    aaguid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuthChallenge(Base):
    """A single-use login or WebAuthn challenge; consumed by one atomic UPDATE."""

    __tablename__ = "auth_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "ch_" + hex
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    purpose: Mapped[str] = mapped_column(String(24))  # login | webauthn_register | webauthn_login
    challenge: Mapped[bytes] = mapped_column(LargeBinary(64))
    domain: Mapped[str] = mapped_column(String(253))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    consumed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


# --- two-party MPC ECDSA (issue 5) -------------------------------------------------------------


class MpcParams(Base):
    """The deployment's MPC server parameters, one row (id 1): ring-Pedersen parameters with their
    Π_prm proof (public JSON) and the P-256 transport key for dealt shares. Secrets are sealed."""

    __tablename__ = "mpc_params"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_params: Mapped[str] = mapped_column(Text)  # ServerParams.to_json(), as JSON text
    sealed_ring_pedersen: Mapped[bytes] = mapped_column(LargeBinary)
    transport_public_pem: Mapped[str] = mapped_column(Text)
    sealed_transport_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)


class MpcWallet(Base):
    """A 2-of-3 wallet: public key and public shares X1..X3; the server's share x2 sealed."""

    __tablename__ = "mpc_wallets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "wal_" + hex
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    mode: Mapped[str] = mapped_column(String(16))  # dkg | dealer
    public_key: Mapped[bytes] = mapped_column(LargeBinary(33))  # SEC1 compressed
    public_shares: Mapped[str] = mapped_column(Text)  # JSON {"1": hex, "2": hex, "3": hex}
    sealed_share: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class MpcKeygenSession(Base):
    """A DKG in progress: the server's sealed polynomial; single-use, consumed by one UPDATE."""

    __tablename__ = "mpc_keygen_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "kg_" + hex
    principal_id: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[bytes] = mapped_column(LargeBinary(16))
    sealed_state: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    consumed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class MpcPairing(Base):
    """A signing pair (client index 1 or 3 with the server). pending -> active -> locked.
    ``server_pairing`` is ServerPairing.to_json() once the client's proofs have been checked."""

    __tablename__ = "mpc_pairings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "pair_" + hex
    wallet_id: Mapped[str] = mapped_column(ForeignKey("mpc_wallets.id"), index=True)
    client_index: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(16))  # pending | active | locked
    server_pairing: Mapped[str | None] = mapped_column(Text, nullable=True)
    nonce_expires_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    activated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    locked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lock_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class MpcSignSession(Base):
    """One signature in progress: the server's sealed nonce state (k2); single-use, 60 s."""

    __tablename__ = "mpc_sign_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 16 random bytes, hex
    pairing_id: Mapped[str] = mapped_column(ForeignKey("mpc_pairings.id"), index=True)
    principal_id: Mapped[str] = mapped_column(String(32))
    message_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_state: Mapped[bytes] = mapped_column(LargeBinary)
    commitment: Mapped[str] = mapped_column(Text)  # SignCommitment.to_json(), as JSON text
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    consumed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


# --- device-key login ledger (migration 0004) ----------------------------------------------------


class AuthChallengeUse(Base):
    """A consumed login challenge (nodes sharing PostgreSQL): the first INSERT of an id wins;
    rows are deleted a while after their challenge expired."""

    __tablename__ = "auth_challenge_uses"

    id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
