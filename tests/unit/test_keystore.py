"""sigil.auth.keystore: the passphrase-encrypted device keystore (real scrypt, real AES-GCM)."""

from __future__ import annotations

import base64
import json
import pickle
import stat
from pathlib import Path

import pytest

from sigil.auth.device import DeviceKey
from sigil.auth.keystore import (
    KEYSTORE_VERSION,
    Keystore,
    KeystoreCorrupt,
    KeystoreError,
    KeystoreNotFound,
    WrongPassphrase,
    devices_dir,
    is_private_file,
    keystore_path,
    list_keystores,
    load_keystore,
    save_keystore,
    session_path,
    sigil_home,
)
from sigil.auth.saved_session import SavedSession, load_session, save_session
from sigil.crypto import P256, P384, PrivateKey

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGIL_HOME", str(tmp_path / "sigil-home"))
    return tmp_path / "sigil-home"


@pytest.fixture(scope="module")
def sealed() -> tuple[PrivateKey, Keystore]:
    key = PrivateKey.generate(P256)
    return key, Keystore.seal(key, PASSPHRASE, user="alice")


def secret_forms(key: PrivateKey) -> list[str]:
    """Every textual form of the scalar d a leak could take."""
    d = key.scalar_bytes()
    return [
        d.hex(),
        d.hex().upper(),
        str(int.from_bytes(d, "big")),
        base64.b64encode(d).decode().rstrip("="),
        base64.urlsafe_b64encode(d).decode().rstrip("="),
    ]


def edit(keystore: Keystore, **changes: object) -> Keystore:
    data = keystore.to_dict()
    data.update(changes)
    return Keystore.from_json(json.dumps(data))


# --- round trip ----------------------------------------------------------------------------------------


def test_round_trip_through_json(sealed: tuple[PrivateKey, Keystore]) -> None:
    key, keystore = sealed
    again = Keystore.from_json(keystore.to_json())
    unlocked = again.unlock(PASSPHRASE)
    assert unlocked.scalar_bytes() == key.scalar_bytes()
    assert unlocked.public_key().sec1() == key.public_key().sec1()
    assert again.user == "alice"
    assert again.public_key_hex == key.public_key().sec1().hex()


def test_file_format(sealed: tuple[PrivateKey, Keystore]) -> None:
    _, keystore = sealed
    data = json.loads(keystore.to_json())
    assert data["version"] == KEYSTORE_VERSION == 1
    assert data["kdf"]["name"] == "scrypt"
    assert (data["kdf"]["n"], data["kdf"]["r"], data["kdf"]["p"], data["kdf"]["length"]) == (2**15, 8, 1, 32)
    assert len(base64.urlsafe_b64decode(data["kdf"]["salt"] + "==")) == 16
    assert len(base64.urlsafe_b64decode(data["nonce"] + "==")) == 12
    assert len(base64.urlsafe_b64decode(data["ciphertext"] + "==")) == 32 + 16
    assert data["cipher"] == "aes-256-gcm"
    assert data["user"] == "alice"
    assert data["device_id"] is None


def test_fresh_salt_and_nonce_each_time() -> None:
    key = PrivateKey.generate(P256)
    a = Keystore.seal(key, PASSPHRASE, user="alice")
    b = Keystore.seal(key, PASSPHRASE, user="alice")
    assert a.kdf.salt != b.kdf.salt
    assert a.nonce != b.nonce
    assert a.ciphertext != b.ciphertext


def test_unicode_passphrase_is_normalised() -> None:
    key = PrivateKey.generate(P256)
    keystore = Keystore.seal(key, "caf\u00e9", user="alice")  # precomposed é
    assert keystore.unlock("cafe\u0301").scalar_bytes() == key.scalar_bytes()  # e + combining acute


def test_device_key_seal_and_unlock() -> None:
    device = DeviceKey.generate()
    keystore = device.seal(PASSPHRASE, user="bob", server_url="http://127.0.0.1:1")
    assert keystore.server_url == "http://127.0.0.1:1"
    assert DeviceKey.unlock(keystore, PASSPHRASE).public_key_hex == device.public_key_hex


def test_only_p256_and_non_empty_inputs() -> None:
    with pytest.raises(KeystoreError):
        Keystore.seal(PrivateKey.generate(P384), PASSPHRASE, user="alice")
    with pytest.raises(KeystoreError):
        Keystore.seal(PrivateKey.generate(P256), "", user="alice")
    with pytest.raises(KeystoreError):
        Keystore.seal(PrivateKey.generate(P256), PASSPHRASE, user="")


# --- files ---------------------------------------------------------------------------------------------


def test_save_and_load_mode_0600_dir_0700(home: Path, sealed: tuple[PrivateKey, Keystore]) -> None:
    key, keystore = sealed
    path = save_keystore(keystore)
    assert path == home / "devices" / "alice.json" == keystore_path("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert is_private_file(path)
    assert load_keystore(path).unlock(PASSPHRASE).scalar_bytes() == key.scalar_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["alice.json"]  # no temporary file left behind
    assert list_keystores() == [path]


def test_save_replaces_atomically_and_tightens_a_loose_directory(
    home: Path, sealed: tuple[PrivateKey, Keystore]
) -> None:
    _, keystore = sealed
    folder = devices_dir()
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    path = save_keystore(keystore)
    registered = keystore.with_registration("dev_0123", "http://127.0.0.1:9")
    save_keystore(registered, path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_keystore(path)
    assert (loaded.device_id, loaded.server_url) == ("dev_0123", "http://127.0.0.1:9")
    assert loaded.unlock(PASSPHRASE)  # registration data is not bound: no re-encryption needed
    assert sorted(p.name for p in folder.iterdir()) == ["alice.json"]


def test_missing_file_is_a_clear_error(home: Path) -> None:
    with pytest.raises(KeystoreNotFound, match="no keystore"):
        load_keystore(home / "devices" / "nobody.json")


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIGIL_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sigil_home() == tmp_path / ".config" / "sigil"
    assert keystore_path("alice") == tmp_path / ".config" / "sigil" / "devices" / "alice.json"


@pytest.mark.parametrize("user", ["../../etc/passwd", "..", "a/b", "a\\b", "\u00e9ve", "x y"])
def test_user_names_cannot_escape_the_devices_dir(home: Path, user: str) -> None:
    for path in (keystore_path(user), session_path(user)):
        assert path.parent == home / "devices"
        assert "/" not in path.name


def test_sessions_saved_0600_and_kept_out_of_repr(home: Path) -> None:
    saved = SavedSession(user="alice", device_id="dev_1", session_token="eyJ.secret.token", expires_at="x")
    path = save_session(saved)
    assert path == session_path("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_session("alice")
    assert loaded is not None
    assert (loaded.session_token, loaded.device_id, loaded.expires_at) == ("eyJ.secret.token", "dev_1", "x")
    assert loaded.saved_at > 0
    assert "secret" not in repr(loaded) and "secret" not in str(loaded)
    assert load_session("bob") is None


# --- wrong passphrase, tampering, AAD binding ------------------------------------------------------------


def test_wrong_passphrase(sealed: tuple[PrivateKey, Keystore]) -> None:
    key, keystore = sealed
    with pytest.raises(WrongPassphrase) as info:
        keystore.unlock("wrong " + PASSPHRASE)
    assert info.value.code == "wrong_passphrase"
    assert "passphrase" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    for form in secret_forms(key):
        assert form not in str(info.value)


def flip(value: bytes, index: int = 0) -> str:
    data = bytearray(value)
    data[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(data)).decode().rstrip("=")


def test_tampered_ciphertext_nonce_or_salt(sealed: tuple[PrivateKey, Keystore]) -> None:
    _, keystore = sealed
    for tampered in (
        edit(keystore, ciphertext=flip(keystore.ciphertext)),
        edit(keystore, ciphertext=flip(keystore.ciphertext, -1)),  # the tag
        edit(keystore, nonce=flip(keystore.nonce)),
        edit(keystore, kdf={**keystore.kdf.to_dict(), "salt": flip(keystore.kdf.salt)}),
        edit(keystore, kdf={**keystore.kdf.to_dict(), "n": 2**14}),
    ):
        with pytest.raises(WrongPassphrase):
            tampered.unlock(PASSPHRASE)


def test_aad_binds_user(sealed: tuple[PrivateKey, Keystore]) -> None:
    _, keystore = sealed
    with pytest.raises(WrongPassphrase):
        edit(keystore, user="mallory").unlock(PASSPHRASE)


def test_aad_binds_public_key(sealed: tuple[PrivateKey, Keystore]) -> None:
    """Swapping in another valid public key (so the server would register the attacker's) fails."""
    _, keystore = sealed
    other = PrivateKey.generate(P256).public_key().sec1().hex()
    with pytest.raises(WrongPassphrase):
        edit(keystore, public_key_hex=other).unlock(PASSPHRASE)


def test_aad_binds_version(sealed: tuple[PrivateKey, Keystore]) -> None:
    _, keystore = sealed
    forged = Keystore(
        user=keystore.user,
        public_key_hex=keystore.public_key_hex,
        kdf=keystore.kdf,
        nonce=keystore.nonce,
        ciphertext=keystore.ciphertext,
        version=2,
    )
    with pytest.raises(WrongPassphrase):
        forged.unlock(PASSPHRASE)


def test_unbound_fields_stay_editable(sealed: tuple[PrivateKey, Keystore]) -> None:
    key, keystore = sealed
    moved = edit(keystore, device_id="dev_other", server_url="https://sigil.example")
    assert moved.unlock(PASSPHRASE).scalar_bytes() == key.scalar_bytes()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: "not json {",
        lambda d: "[]",
        lambda d: {**d, "version": 2},
        lambda d: {k: v for k, v in d.items() if k != "version"},
        lambda d: {**d, "cipher": "aes-128-cbc"},
        lambda d: {**d, "user": ""},
        lambda d: {**d, "user": 7},
        lambda d: {**d, "public_key_hex": "04zz"},
        lambda d: {**d, "public_key_hex": "02" + "00" * 32},
        lambda d: {**d, "nonce": "!!"},
        lambda d: {**d, "nonce": "AAAA"},
        lambda d: {**d, "ciphertext": "AAAA"},
        lambda d: {**d, "device_id": 5},
        lambda d: {**d, "kdf": {**d["kdf"], "name": "pbkdf2"}},
        lambda d: {**d, "kdf": {**d["kdf"], "n": 3}},
        lambda d: {**d, "kdf": {**d["kdf"], "n": 2**30}},  # would allocate gigabytes
        lambda d: {**d, "kdf": {**d["kdf"], "r": 1000}},
        lambda d: {**d, "kdf": {**d["kdf"], "p": True}},
        lambda d: {**d, "kdf": {**d["kdf"], "length": 16}},
        lambda d: {**d, "kdf": {**d["kdf"], "salt": "AAAA"}},
        lambda d: {**d, "kdf": None},
    ],
)
def test_malformed_files_are_corrupt_not_tracebacks(
    sealed: tuple[PrivateKey, Keystore], mutate: object, tmp_path: Path
) -> None:
    _, keystore = sealed
    changed = mutate(keystore.to_dict())  # type: ignore[operator]
    text = changed if isinstance(changed, str) else json.dumps(changed)
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(KeystoreCorrupt):
        load_keystore(path)


# --- no key material anywhere it could leak --------------------------------------------------------------


def test_no_key_material_in_repr_str_file_or_errors(tmp_path: Path) -> None:
    device = DeviceKey.generate()
    keystore = device.seal(PASSPHRASE, user="alice")
    key = keystore.unlock(PASSPHRASE)
    path = save_keystore(keystore)
    texts = [repr(keystore), str(keystore), repr(device), str(device), repr(key), str(key), path.read_text()]
    for exc_type, action in (
        (WrongPassphrase, lambda: keystore.unlock("nope")),
        (WrongPassphrase, lambda: edit(keystore, user="eve").unlock(PASSPHRASE)),
        (TypeError, lambda: pickle.dumps(device)),
        (TypeError, lambda: pickle.dumps(key)),
    ):
        with pytest.raises(exc_type) as info:
            action()
        texts += [str(info.value), repr(info.value)]
    for text in texts:
        for form in secret_forms(key):
            assert form not in text
        assert PASSPHRASE not in text
    assert "alice" in repr(keystore)
