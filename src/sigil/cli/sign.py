"""``sigil sign`` and ``sigil verify``.

Files are hashed locally, in chunks, with a progress bar on stderr, and only the digest goes to the
server: a 1 GB release artifact signs without being uploaded. ``sign --out`` writes the detached
signature as raw bytes (DER by default), which ``openssl dgst -sha256 -verify pub.pem -signature
SIG FILE`` accepts. ``verify --public-key`` works offline with ``sigil.crypto``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sigil.cli.output import JsonOption, api_client, fail, info, print_json, print_plain, stderr
from sigil.client import KeysClient

CHUNK_SIZE = 1 << 20
HASHLIB_NAMES = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
KNOWN_HASHES = (*HASHLIB_NAMES, "KECCAK-256")
B64_TEXT = re.compile(rb"[A-Za-z0-9+/_\-]+={0,2}")


class SignatureEncoding(StrEnum):
    DER = "der"
    RAW = "raw"
    RSV = "rsv"


EncodingOption = typer.Option(SignatureEncoding.DER, "--encoding", "-e", help="Signature format.")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> Any: ...
    def digest(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Message:
    """What to sign or verify, in exactly one form."""

    text: str | None = None
    data: bytes | None = None
    digest: bytes | None = None
    hash_name: str | None = None  # the hash used for ``digest``

    def api_fields(self) -> dict[str, Any]:
        return {"data": self.text, "data_bytes": self.data, "digest": self.digest}


# --- hashing ------------------------------------------------------------------------------------


def normalise_hash(name: str | None) -> str | None:
    """``sha256`` / ``SHA256`` / ``sha-256`` → ``SHA-256``; unknown names are a clear error."""
    if name is None:
        return None
    compact = name.upper().replace("-", "").replace("_", "")
    for known in KNOWN_HASHES:
        if known.replace("-", "") == compact:
            return known
    fail(f"unknown hash {name!r}; use one of {', '.join(KNOWN_HASHES)}")


def default_hash(curve: str) -> str:
    return "SHA-384" if curve == "P-384" else "SHA-256"


def new_hasher(hash_name: str) -> Hasher:
    if hash_name == "KECCAK-256":
        from Crypto.Hash import keccak

        return keccak.new(digest_bits=256)
    return hashlib.new(HASHLIB_NAMES[hash_name])


def hash_file(path: Path, hash_name: str, *, show_progress: bool) -> bytes:
    """Hash a file in 1 MiB chunks; a progress bar on stderr when asked for."""
    hasher = new_hasher(hash_name)
    try:
        size = path.stat().st_size
        with (
            path.open("rb") as fh,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=stderr,
                disable=not show_progress,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task(f"{hash_name} {path.name}", total=size)
            while chunk := fh.read(CHUNK_SIZE):
                hasher.update(chunk)
                progress.advance(task, len(chunk))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    return hasher.digest()


def progress_wanted(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


# --- inputs -------------------------------------------------------------------------------------


def check_one_source(text: str | None, file: Path | None, stdin: bool) -> None:
    count = sum((text is not None, file is not None, stdin))
    if count != 1:
        fail("give exactly one message: TEXT, --file PATH or --stdin")


def read_stdin() -> bytes:
    return sys.stdin.buffer.read()


def decode_b64(value: str, what: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    cleaned = "".join(value.split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned)
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        fail(f"{what} is not valid base64")


def load_signature(signature: str | None, signature_file: Path | None) -> bytes:
    """From ``--signature B64`` or ``--signature-file`` (raw bytes as `sign --out` writes, or base64)."""
    if (signature is None) == (signature_file is None):
        fail("give exactly one of --signature B64 or --signature-file PATH")
    if signature is not None:
        return decode_b64(signature, "--signature")
    assert signature_file is not None
    try:
        raw = signature_file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {signature_file}: {exc.strerror or exc}")
    stripped = raw.strip()
    if stripped and B64_TEXT.fullmatch(stripped):
        return decode_b64(stripped.decode("ascii"), str(signature_file))
    return raw


def remote_curve(client: KeysClient, key_id: str) -> str:
    """The key's curve, from the public endpoint (no token needed)."""
    return str(client.public_key(key_id)["curve"])


def message_for_server(
    client: KeysClient,
    key_id: str,
    *,
    text: str | None,
    file: Path | None,
    stdin: bool,
    hash_name: str | None,
    show_progress: bool,
) -> Message:
    """Text and stdin go as they are; a file is hashed here with the key's (or the given) hash."""
    if file is not None:
        chosen = hash_name or default_hash(remote_curve(client, key_id))
        return Message(digest=hash_file(file, chosen, show_progress=show_progress), hash_name=chosen)
    if stdin:
        return Message(data=read_stdin(), hash_name=hash_name)
    return Message(text=text, hash_name=hash_name)


# --- sign ---------------------------------------------------------------------------------------


def write_signature(path: Path, signature: bytes) -> None:
    try:
        path.write_bytes(signature)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def sign_command(
    key_id: str = typer.Argument(..., help="Key to sign with."),
    text: str | None = typer.Argument(None, help="UTF-8 text to sign."),
    file: Path | None = typer.Option(
        None, "--file", "-f", dir_okay=False, help="Hash this file locally and sign only the digest."
    ),
    stdin: bool = typer.Option(False, "--stdin", help="Sign the bytes read from stdin."),
    hash_name: str | None = typer.Option(
        None, "--hash", help="SHA-256 (default), SHA-384 (default on P-384), SHA-512, KECCAK-256."
    ),
    encoding: SignatureEncoding = EncodingOption,
    low_s: bool = typer.Option(False, "--low-s", help="Normalise s to the lower half of the order."),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Sign with this key version."),
    out: Path | None = typer.Option(
        None, "--out", "-o", dir_okay=False, help="Write the detached signature here as raw bytes (DER)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Sign TEXT, a file or stdin; print the base64 signature or write it with --out."""
    check_one_source(text, file, stdin)
    chosen_hash = normalise_hash(hash_name)
    with api_client() as client:
        message = message_for_server(
            client,
            key_id,
            text=text,
            file=file,
            stdin=stdin,
            hash_name=chosen_hash,
            show_progress=progress_wanted(as_json),
        )
        result = client.sign(
            key_id,
            **message.api_fields(),
            hash=message.hash_name,
            encoding=encoding.value,
            low_s=low_s,
            version=version,
        )
    if out is not None:
        write_signature(out, result.signature_bytes)
    if as_json:
        print_json({**result.to_dict(), **({"out": str(out)} if out else {})})
    elif out is not None:
        info(f"wrote {len(result.signature_bytes)}-byte {result.encoding} signature to {out}")
    else:
        print_plain(result.signature)


# --- verify -------------------------------------------------------------------------------------


def curve_name_of(public_key: Any) -> str:
    """The curve name of a parsed ``sigil.crypto`` public key (``.curve`` is a Curve or a name)."""
    curve = getattr(public_key, "curve", None)
    name = getattr(curve, "name", curve)
    if not isinstance(name, str):
        fail("cannot tell the public key's curve")
    return name


def load_public_key(pem_file: Path) -> Any:
    """A PEM (SPKI) public key, or a JWK in a JSON file, parsed by ``sigil.crypto``."""
    from sigil.crypto.keys import parse_public_key
    from sigil.errors import SigilError

    try:
        pem_text = pem_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read public key {pem_file}: {getattr(exc, 'strerror', None) or exc}")
    try:
        if pem_text.lstrip().startswith("{"):
            return parse_public_key(json.loads(pem_text))  # a JWK file works too
        return parse_public_key(pem_text)
    except (SigilError, ValueError) as exc:
        fail(f"{pem_file} is not a usable public key: {exc}")


def local_message(text: str | None, file: Path | None, stdin: bool, hash_name: str) -> Message:
    if file is not None:
        return Message(digest=hash_file(file, hash_name, show_progress=False), hash_name=hash_name)
    if stdin:
        return Message(data=read_stdin(), hash_name=hash_name)
    return Message(text=text, hash_name=hash_name)


def verify_offline(public_key: Any, message: Message, signature: bytes, encoding: str) -> bool:
    """Verify with ``sigil.crypto`` only: no server involved."""
    from sigil.crypto import ecdsa
    from sigil.errors import SigilError

    try:
        if message.digest is not None:
            return bool(
                ecdsa.verify(
                    public_key,
                    signature,
                    digest=message.digest,
                    hash_name=message.hash_name,
                    encoding=encoding,
                )
            )
        data = message.data if message.data is not None else (message.text or "").encode("utf-8")
        return bool(
            ecdsa.verify(public_key, signature, message=data, hash_name=message.hash_name, encoding=encoding)
        )
    except (SigilError, ValueError) as exc:
        if getattr(exc, "code", None) == "invalid_signature":
            return False
        fail(str(exc))


def report_validity(valid: bool, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        print_json({"valid": valid, **(extra or {})})
    else:
        print_plain("valid" if valid else "invalid")
    if not valid:
        raise typer.Exit(1)


def verify_on_server(
    key_id: str,
    signature: bytes,
    *,
    text: str | None,
    file: Path | None,
    stdin: bool,
    hash_name: str | None,
    encoding: str,
    version: int | None,
) -> bool:
    """Ask the server whether ``signature`` verifies under ``key_id`` (any version, or ``version``)."""
    with api_client() as client:
        message = message_for_server(
            client, key_id, text=text, file=file, stdin=stdin, hash_name=hash_name, show_progress=False
        )
        return client.verify(
            signature,
            key_id=key_id,
            version=version,
            **message.api_fields(),
            hash=message.hash_name,
            encoding=encoding,
        )


def verify_command(
    text: str | None = typer.Argument(None, help="UTF-8 text that was signed."),
    key_id: str | None = typer.Option(
        None, "--key", "-k", help="Verify on the server with this key's versions."
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", "-p", dir_okay=False, help="Verify offline with this PEM public key."
    ),
    file: Path | None = typer.Option(
        None, "--file", "-f", dir_okay=False, help="The signed file (hashed here)."
    ),
    stdin: bool = typer.Option(False, "--stdin", help="The signed bytes come on stdin."),
    signature: str | None = typer.Option(None, "--signature", "-s", help="The signature, base64."),
    signature_file: Path | None = typer.Option(
        None,
        "--signature-file",
        dir_okay=False,
        help="The signature: raw bytes (as `sign --out` writes) or base64.",
    ),
    hash_name: str | None = typer.Option(
        None, "--hash", help="Hash used when signing (default: the curve's)."
    ),
    encoding: SignatureEncoding = EncodingOption,
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Only this key version (--key)."),
    as_json: bool = JsonOption,
) -> None:
    """Check a signature; exit 0 when valid, 1 when not."""
    if (key_id is None) == (public_key is None):
        fail("give exactly one of --key KEY_ID or --public-key PEM_FILE")
    check_one_source(text, file, stdin)
    chosen_hash = normalise_hash(hash_name)
    sig = load_signature(signature, signature_file)
    if public_key is not None:
        parsed = load_public_key(public_key)
        message = local_message(text, file, stdin, chosen_hash or default_hash(curve_name_of(parsed)))
        valid = verify_offline(parsed, message, sig, encoding.value)
    else:
        assert key_id is not None
        valid = verify_on_server(
            key_id,
            sig,
            text=text,
            file=file,
            stdin=stdin,
            hash_name=chosen_hash,
            encoding=encoding.value,
            version=version,
        )
    report_validity(valid, as_json)
