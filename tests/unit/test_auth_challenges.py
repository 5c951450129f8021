"""sigil.auth: challenges (pure checks and atomic consumption), device login verification,
device key parsing, signature decoding, rate limits and session tokens — real crypto throughout."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import Connection, text

from sigil.auth import challenges, devices, ratelimit, sessions
from sigil.auth.challenges import ChallengeRow, check_challenge, make_challenge
from sigil.auth.device_login import decode_signature, verify_device_login
from sigil.auth.errors import (
    ChallengeExpired,
    ChallengeMismatch,
    ChallengeNotFound,
    ChallengeUsed,
    LoginFailed,
)
from sigil.auth.registration import check_user_name, parse_device_key
from sigil.errors import BadRequest, InvalidEncoding, InvalidPublicKey, TooManyRequests, Unauthorized
from sigil.keys.context import Context
from sigil.keys.service import KeyService
from sigil.server.app import build_context
from sigil.server.settings import Settings
from sigil.store.db import default_db_url, migrate
from sigil.store.masterkey import load_master_key

NOW = 1_700_000_000_000_000


def _row(**over: object) -> ChallengeRow:
    fields: dict[str, object] = {
        "id": "ch_1",
        "user_id": "usr_a",
        "purpose": "login",
        "challenge": b"h" * 32,
        "domain": "example.com",
        "expires_at": NOW + 60_000_000,
        "consumed_at": None,
        "created_at": NOW,
    }
    fields.update(over)
    return ChallengeRow(**fields)  # type: ignore[arg-type]


def _device_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sec1(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- H = SHA-256(random ‖ domain) --------------------------------------------------------------


def test_challenge_is_sha256_of_random_and_domain() -> None:
    nonce = bytes(range(32))
    assert make_challenge("example.com", nonce) == hashlib.sha256(nonce + b"example.com").digest()
    assert make_challenge("example.com", nonce) != make_challenge("example.org", nonce)
    assert make_challenge("example.com") != make_challenge("example.com")  # fresh randomness
    with pytest.raises(ValueError):
        make_challenge("example.com", b"short")


# --- pure checks, each named ---------------------------------------------------------------------


def test_check_accepts_a_fresh_matching_challenge() -> None:
    row = _row()
    assert check_challenge(row, purpose="login", user_id="usr_a", now=NOW, domain="example.com") is row


@pytest.mark.parametrize(
    ("row", "kwargs", "error"),
    [
        (None, {}, ChallengeNotFound),
        (_row(purpose="webauthn_login"), {}, ChallengeMismatch),
        (_row(user_id="usr_b"), {}, ChallengeMismatch),
        (_row(domain="evil.example"), {}, ChallengeMismatch),
        (_row(), {"challenge": b"x" * 32}, ChallengeMismatch),
        (_row(consumed_at=NOW - 1), {}, ChallengeUsed),
        (_row(expires_at=NOW), {}, ChallengeExpired),
        (_row(expires_at=NOW - 1), {}, ChallengeExpired),
    ],
    ids=["missing", "purpose", "user", "domain", "bytes", "used", "expires-now", "expired"],
)
def test_check_rejects(row: ChallengeRow | None, kwargs: dict[str, bytes], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_challenge(row, purpose="login", user_id="usr_a", now=NOW, domain="example.com", **kwargs)


def test_error_statuses_and_codes() -> None:
    assert (ChallengeUsed.status, ChallengeUsed.code) == (409, "challenge_used")
    assert (ChallengeExpired.status, ChallengeExpired.code) == (410, "challenge_expired")
    assert (ChallengeMismatch.status, ChallengeMismatch.code) == (401, "challenge_mismatch")
    assert (LoginFailed.status, LoginFailed.code) == (401, "login_failed")
    assert (TooManyRequests.status, TooManyRequests.code) == (429, "rate_limited")


# --- the device's signature over H ---------------------------------------------------------------


def test_der_and_raw_signatures_verify() -> None:
    key = _device_key()
    h = make_challenge("example.com")
    der = key.sign(h, ec.ECDSA(hashes.SHA256()))
    assert verify_device_login(challenge=h, public_key=_sec1(key), signature=der).encoding == "der"
    assert verify_device_login(challenge=h, public_key=_sec1(key), signature=_raw(der)).encoding == "raw"


def test_signature_over_other_bytes_or_by_another_key_fails() -> None:
    key, other = _device_key(), _device_key()
    h = make_challenge("example.com")
    other_domain = make_challenge("other.example")
    with pytest.raises(LoginFailed):
        verify_device_login(
            challenge=h, public_key=_sec1(key), signature=key.sign(other_domain, ec.ECDSA(hashes.SHA256()))
        )
    with pytest.raises(LoginFailed):
        verify_device_login(
            challenge=h, public_key=_sec1(key), signature=other.sign(h, ec.ECDSA(hashes.SHA256()))
        )
    # A signature over SHA-256(H) given as a prehash is a signature over other bytes too.
    with pytest.raises(LoginFailed):
        verify_device_login(
            challenge=h,
            public_key=_sec1(key),
            signature=key.sign(hashlib.sha256(h).digest(), ec.ECDSA(hashes.SHA256())),
        )


def test_malformed_signature_and_key() -> None:
    key = _device_key()
    h = make_challenge("example.com")
    with pytest.raises(InvalidEncoding):
        verify_device_login(challenge=h, public_key=_sec1(key), signature=b"\x01" * 10)
    with pytest.raises(InvalidPublicKey):
        verify_device_login(challenge=h, public_key=b"\x04" + b"\x01" * 64, signature=b"\x00" * 64)
    zero_sig = b"\x00" * 64  # r = s = 0 never verifies
    with pytest.raises(LoginFailed):
        verify_device_login(challenge=h, public_key=_sec1(key), signature=zero_sig)


def test_decode_signature_accepts_base64_and_base64url() -> None:
    sig = bytes(range(200, 256)) + bytes(8)
    assert decode_signature(base64.b64encode(sig).decode()) == sig
    assert decode_signature(base64.urlsafe_b64encode(sig).decode().rstrip("=")) == sig
    for bad in ["", "not base64!", base64.b64encode(b"\x30" * 5).decode(), "A" * 300]:
        with pytest.raises(InvalidEncoding):
            decode_signature(bad)


def test_device_key_formats_p256_only() -> None:
    key = _device_key()
    sec1 = _sec1(key)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    nums = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": base64.urlsafe_b64encode(nums.x.to_bytes(32, "big")).decode().rstrip("="),
        "y": base64.urlsafe_b64encode(nums.y.to_bytes(32, "big")).decode().rstrip("="),
    }
    assert parse_device_key(pem.decode()) == sec1
    assert parse_device_key(jwk) == sec1
    assert parse_device_key(sec1.hex()) == sec1
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(InvalidPublicKey):
        parse_device_key(
            p384.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
        )
    for bad in ["04" + "00" * 64, "zz", "04" + "11" * 64]:
        with pytest.raises(InvalidPublicKey):
            parse_device_key(bad)
    with pytest.raises(BadRequest):
        check_user_name("no spaces allowed")


# --- with a database: atomic consumption, rate limits, sessions ---------------------------------


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    load_master_key(tmp_path, create=True)
    url = default_db_url(tmp_path)
    migrate(url)
    context = build_context(Settings(data_dir=tmp_path, db_url=url))
    yield context
    context.close()


def test_consume_once_even_under_concurrency(ctx: Context) -> None:
    with ctx.db.write() as session:
        row = challenges.new_challenge(session, user_id="usr_a", purpose="login", domain="example.com")
    wins: list[ChallengeRow] = []
    losses: list[Exception] = []
    barrier = threading.Barrier(12)

    def attempt() -> None:
        barrier.wait()
        try:
            with ctx.db.write() as session:
                wins.append(challenges.consume_challenge(session, row.id, purpose="login", user_id="usr_a"))
        except ChallengeUsed as exc:
            losses.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 11
    assert wins[0].consumed_at is not None


def test_rejected_consumption_changes_nothing(ctx: Context) -> None:
    with ctx.db.write() as session:
        row = challenges.new_challenge(
            session, user_id="usr_a", purpose="login", domain="example.com", ttl=60
        )
    for kwargs in ({"user_id": "usr_b"}, {"user_id": "usr_a", "domain": "other.example"}):
        with pytest.raises(ChallengeMismatch), ctx.db.write() as session:
            challenges.consume_challenge(session, row.id, purpose="login", **kwargs)  # type: ignore[arg-type]
    with ctx.db.read() as session:
        assert challenges.get_challenge(session, row.id) == row
    with ctx.db.write() as session:
        challenges.consume_challenge(session, row.id, purpose="login", user_id="usr_a")


def test_expired_challenge_is_not_consumed(ctx: Context) -> None:
    with ctx.db.write() as session:
        row = challenges.new_challenge(session, user_id="usr_a", purpose="login", domain="d", ttl=0)
    with pytest.raises(ChallengeExpired), ctx.db.write() as session:
        challenges.consume_challenge(session, row.id, purpose="login", user_id="usr_a")
    with ctx.db.read() as session:
        stored = challenges.get_challenge(session, row.id)
    assert stored is not None and stored.consumed_at is None


def test_rate_limit_fixed_window(ctx: Context) -> None:
    for _ in range(3):
        ratelimit.hit(ctx, "t:key", 3, 3600)
    with pytest.raises(TooManyRequests):
        ratelimit.hit(ctx, "t:key", 3, 3600)
    ratelimit.hit(ctx, "t:other", 3, 3600)  # counters are per key
    with ctx.db.batch() as conn:  # a new window starts again at 1
        ratelimit.hit_all(conn, [("t:key", 3, 3600)], now=10**10)


def test_session_token_round_trip_and_revocation(ctx: Context) -> None:
    keys = KeyService(ctx)
    key_id = sessions.ensure_service_key(ctx, keys)
    assert sessions.ensure_service_key(ctx, keys) == key_id
    device, _user = devices.register_device(
        ctx,
        user="alice",
        public_key=_sec1(_device_key()),
        name=None,
        session_user=None,
        open_registration=True,
    )
    token, expires_at = sessions.issue_session(ctx, keys, user="alice", device_id=device.id, ttl=60)
    claims = sessions.verify_session(ctx, keys, token)
    assert (claims.user, claims.device_id, claims.expires_at) == ("alice", device.id, expires_at)
    with pytest.raises(Unauthorized):
        sessions.decode_session(ctx, keys, token, now=expires_at)  # expired
    head, body, sig = token.split(".")
    with pytest.raises(Unauthorized):
        sessions.verify_session(ctx, keys, f"{head}.{body}.{sig[:-4]}AAAA")
    devices.revoke_device(ctx, user="alice", device_id=device.id)
    with pytest.raises(Unauthorized):
        sessions.verify_session(ctx, keys, token)


def test_grouped_writes_roll_back_only_the_failing_operation(ctx: Context) -> None:
    from sigil.auth.writelock import run_write

    def op(i: int) -> Callable[[Connection], int]:
        def write(conn: Connection) -> int:
            ratelimit.hit_all(conn, [(f"g:{i}", 10, 3600)])
            if i % 2:
                raise ValueError(i)
            return i

        return write

    results: dict[int, object] = {}
    barrier = threading.Barrier(16)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = run_write(ctx, op(i))
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == i for i in range(0, 16, 2))
    assert all(isinstance(results[i], ValueError) for i in range(1, 16, 2))
    with ctx.db.read() as session:
        stored = {r[0] for r in session.execute(text("SELECT key FROM auth_rate WHERE key LIKE 'g:%'"))}
    assert stored == {f"g:{i}" for i in range(0, 16, 2)}
