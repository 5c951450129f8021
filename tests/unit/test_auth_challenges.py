"""sigil.auth: challenges (pure checks, MAC'd tokens, the node ledger, atomic consumption of stored
rows), device login verification, device key parsing, signature decoding, rate limits and session
tokens — real crypto throughout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sigil.auth import challenges, devices, nodestate, sessions
from sigil.auth.challenges import ChallengeRow, check_challenge, issue_token, make_challenge, read_token
from sigil.auth.config import AuthConfig
from sigil.auth.device_login import decode_signature, verify_device_login
from sigil.auth.errors import (
    ChallengeExpired,
    ChallengeMismatch,
    ChallengeNotFound,
    ChallengeUsed,
    DeviceRevoked,
    LoginFailed,
)
from sigil.auth.nodestate import GRACE_US, LEDGER_SLOTS, NodeFull, NodeState
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


def test_consume_in_db_once_even_under_concurrency(ctx: Context) -> None:
    """The ledger of nodes sharing PostgreSQL (here on SQLite, same statements): one winner."""
    token = issue_token(b"k" * 32, user_id="usr_a", user_name="alice", purpose="login", domain="d")
    expires = token.row.expires_at
    wins: list[bool] = []
    barrier = threading.Barrier(12)

    def attempt() -> None:
        barrier.wait()
        wins.append(challenges.consume_in_db(ctx, token.ledger_id, expires, challenges.now_us()))

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 11 + [True]
    assert not challenges.consume_in_db(ctx, b"\x01" * 16, expires, expires)  # expired: refused


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


def _log_in(
    ctx: Context, keys: KeyService, user: str, device_id: str, key: ec.EllipticCurvePrivateKey
) -> None:
    from sigil.auth import login

    node, cfg = login.login_node(ctx, None), AuthConfig()
    issued = login.begin_login(ctx, node, cfg, user=user, client="10.0.0.1")
    signature = base64.b64encode(key.sign(issued.row.challenge, ec.ECDSA(hashes.SHA256()))).decode()
    login.complete_login(
        ctx, keys, node, cfg, challenge_id=issued.row.id, device_id=device_id, signature=signature,
        client="10.0.0.1",
    )  # fmt: skip


def test_revocation_by_another_worker_is_seen_at_once(ctx: Context, tmp_path: Path) -> None:
    """A worker keeps the devices it has read (SQLite); a revocation made by another worker of the
    node (another context on the same data dir) is seen on the very next login, whatever the
    cache TTL."""
    keys = KeyService(ctx)
    sessions.ensure_service_key(ctx, keys)
    ctx.limits.cache_ttl_seconds = 3600.0
    key = _device_key()
    device, _user = devices.register_device(
        ctx, user="carol", public_key=_sec1(key), name=None, session_user=None, open_registration=True
    )
    _log_in(ctx, keys, "carol", device.id, key)
    _log_in(ctx, keys, "carol", device.id, key)  # from the worker's cache
    other = build_context(Settings(data_dir=tmp_path, db_url=ctx.db.url))
    try:
        devices.revoke_device(other, user="carol", device_id=device.id)
    finally:
        other.close()
    with pytest.raises(DeviceRevoked):
        _log_in(ctx, keys, "carol", device.id, key)


def test_device_cache_keeps_no_row_read_before_a_revocation(ctx: Context) -> None:
    """A row read before the change counter moved is not kept: the next lookup reads again."""
    from sigil.auth.login import _Device, device_cache

    ctx.limits.cache_ttl_seconds = 3600.0
    cache = device_cache(ctx)
    device = _Device("dev_a", "usr_a", "ecdsa", b"\x04" + b"\x01" * 64, None)
    gen = cache.current()
    ctx.generation.bump()  # a revocation commits between the read and the put
    cache.put("dev_a", device, gen, time.monotonic())
    assert cache.get("dev_a", cache.current()) is None
    gen = cache.current()
    cache.put("dev_a", device, gen, time.monotonic())
    assert cache.get("dev_a", cache.current()) == device
    ctx.generation.bump()
    assert cache.get("dev_a", cache.current()) is None


# --- self-authenticating challenge tokens ----------------------------------------------------------

KEY = b"\x07" * 32


def _token(**over: object) -> challenges.TokenChallenge:
    fields: dict[str, object] = {
        "user_id": "usr_a",
        "user_name": "alice",
        "purpose": "login",
        "domain": "example.com",
        "ttl": 60,
    }
    fields.update(over)
    return issue_token(KEY, **fields)  # type: ignore[arg-type]


def test_token_round_trip_recomputes_h() -> None:
    nonce = bytes(range(32))
    issued = _token(random=nonce, now=NOW)
    assert issued.row.challenge == hashlib.sha256(nonce + b"example.com").digest()
    assert issued.row.expires_at == NOW + 60_000_000
    read = read_token(KEY, issued.row.id)
    assert read.row.challenge == issued.row.challenge
    assert (read.row.user_id, read.user_name, read.row.purpose, read.row.domain) == (
        "usr_a", "alice", "login", "example.com"
    )  # fmt: skip
    assert read.row.expires_at == issued.row.expires_at and read.ledger_id == nonce[:16]
    # The pure checks apply to it as to a stored row.
    check_challenge(read.row, purpose="login", user_id="usr_a", now=NOW, domain="example.com")
    with pytest.raises(ChallengeMismatch):
        check_challenge(read.row, purpose="login", user_id="usr_a", now=NOW, domain="other.example")
    with pytest.raises(ChallengeExpired):
        check_challenge(read.row, purpose="login", user_id="usr_a", now=NOW + 60_000_000)
    # A discoverable WebAuthn-style challenge has no user.
    anon = read_token(KEY, _token(user_id=None, user_name=None, purpose="webauthn_login").row.id)
    assert anon.row.user_id is None and anon.user_name is None


def test_every_edited_token_is_an_unknown_challenge() -> None:
    """A token with any byte changed, cut short, or extended fails its MAC: 404-class error."""
    token = _token().row.id
    raw = base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4))
    for i in range(len(raw)):
        edited = bytearray(raw)
        edited[i] ^= 0x01
        forged = "ch_" + base64.urlsafe_b64encode(bytes(edited)).decode().rstrip("=")
        with pytest.raises(ChallengeNotFound):
            read_token(KEY, forged)
    for forged in [
        "ch_" + base64.urlsafe_b64encode(raw[:-1]).decode().rstrip("="),
        "ch_" + base64.urlsafe_b64encode(raw + b"\x00").decode().rstrip("="),
        token[:-2],
        "ch_" + "A" * 40,
        "ch_!!!",
        "xx" + token[2:],
        "ch_" + "A" * 600,
        "",
    ]:
        with pytest.raises(ChallengeNotFound):
            read_token(KEY, forged)
    with pytest.raises(ChallengeNotFound):
        read_token(KEY, 12345)


def test_token_tag_is_hmac_sha256_of_label_and_fields() -> None:
    """The tag is the first 16 bytes of HMAC-SHA-256(key, label ‖ fields), whatever way it is
    computed: nodes sharing PostgreSQL, on different versions, read each other's tokens."""
    nonce = bytes(range(32))
    token = _token(random=nonce, now=NOW).row.id
    raw = base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4))
    payload, tag = raw[:-16], raw[-16:]
    assert tag == hmac.digest(KEY, b"sigil login challenge token v1\0" + payload, "sha256")[:16]
    # The keyed state is reused, never changed: the same key gives the same tag again.
    assert _token(random=nonce, now=NOW).row.id == token


def test_token_of_another_key_is_unknown() -> None:
    """Another node's key, or this node's key before a restart (a new nonce): unknown."""
    token = _token().row.id
    with pytest.raises(ChallengeNotFound):
        read_token(b"\x08" * 32, token)


def test_node_key_changes_at_each_start(tmp_path: Path) -> None:
    from sigil.auth.login import login_node

    load_master_key(tmp_path, create=True)
    url = default_db_url(tmp_path)
    migrate(url)
    node_file = tmp_path / "login.node"
    keys, tokens = [], []
    for _ in range(2):
        nodestate.create(node_file)  # what ``sigil serve`` does at each start
        context = build_context(Settings(data_dir=tmp_path, db_url=url))
        try:
            node = login_node(context, str(node_file))
            keys.append(node.key)
            tokens.append(issue_token(node.key, user_id="usr_a", user_name="a", purpose="login", domain="d"))
            read_token(node.key, tokens[-1].row.id)
        finally:
            context.close()
    assert keys[0] != keys[1]
    with pytest.raises(ChallengeNotFound):  # issued before the restart
        read_token(keys[1], tokens[0].row.id)


# --- the node ledger and counters (shared memory) --------------------------------------------------


def test_ledger_consumes_once_and_forgets_after_expiry() -> None:
    node = NodeState()
    cid = b"\x11" * 16
    assert node.consume(cid, NOW + 10, NOW)
    assert not node.consume(cid, NOW + 10, NOW + 5)  # used
    assert not node.consume(b"\x12" * 16, NOW, NOW)  # expired: never recorded
    assert not node.consume(cid, NOW + 10, NOW + 10)  # expired
    # Long after expiry the slot is free again; the challenge itself is refused by its expiry.
    assert not node.consume(cid, NOW + 10, NOW + 10 + GRACE_US + 1)
    fresh = NOW + 20 + GRACE_US
    assert node.consume(b"\x13" * 16, fresh + 10, fresh)


def test_ledger_bucket_full_fails_closed() -> None:
    node = NodeState()
    same_bucket = [bytes([0, 0, 0, 0]) + bytes([i]) * 12 for i in range(LEDGER_SLOTS)]
    for cid in same_bucket:
        assert node.consume(cid, NOW + 10, NOW)
    with pytest.raises(NodeFull):
        node.consume(bytes([0, 0, 0, 0]) + b"\xff" * 12, NOW + 10, NOW)
    assert not node.consume(same_bucket[0], NOW + 10, NOW)  # still remembered
    assert node.consume(bytes([0, 0, 0, 0]) + b"\xff" * 12, NOW + GRACE_US + 100, NOW + GRACE_US + 20)


def _consume_in_child(path: str, cid: bytes, expires: int, now: int, barrier: object, out: object) -> None:
    node = NodeState(Path(path))
    barrier.wait()  # type: ignore[attr-defined]
    out.put(node.consume(cid, expires, now))  # type: ignore[attr-defined]


def test_ledger_is_shared_by_processes(tmp_path: Path) -> None:
    """Worker processes map the same file: of 8 processes racing on one id, one wins."""
    path = tmp_path / "login.node"
    nodestate.create(path)
    mp = multiprocessing.get_context("fork")
    barrier, out = mp.Barrier(8), mp.Queue()
    procs = [
        mp.Process(target=_consume_in_child, args=(str(path), b"\x21" * 16, NOW + 10, NOW, barrier, out))
        for _ in range(8)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sorted(out.get(timeout=5) for _ in procs) == [False] * 7 + [True]
    assert not NodeState(path).consume(b"\x21" * 16, NOW + 10, NOW)
    nodestate.create(path)  # a restart: a new nonce, an empty ledger
    assert NodeState(path).consume(b"\x21" * 16, NOW + 10, NOW)


def test_rate_counters_fixed_window() -> None:
    node = NodeState()
    for _ in range(3):
        node.hit([("t:key", 3, 3600)], 1000.0)
    with pytest.raises(TooManyRequests, match="retry in 2600 s"):
        node.hit([("t:key", 3, 3600)], 1000.0)
    node.hit([("t:other", 3, 3600)], 1000.0)  # counters are per key
    node.hit([("t:key", 3, 60)], 1000.0)  # and per window length
    node.hit([("t:key", 3, 3600)], 3600.0)  # a new window starts again at 1
    with pytest.raises(TooManyRequests):  # every counter of a step counts, and any one refuses
        node.hit([("t:a", 5, 60), ("t:b", 0, 60)], 1000.0)


def test_webauthn_user_verification_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIGIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIGIL_WEBAUTHN_USER_VERIFICATION", "required")
    assert Settings.from_env().webauthn_user_verification == "required"
    monkeypatch.delenv("SIGIL_WEBAUTHN_USER_VERIFICATION")
    assert Settings.from_env().webauthn_user_verification == "preferred"
    monkeypatch.setenv("SIGIL_WEBAUTHN_USER_VERIFICATION", "requried")
    with pytest.raises(SystemExit, match="must be one of"):
        Settings.from_env()
