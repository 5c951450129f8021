"""Loaders for the shared test-vector families (one loader per family; vectors are data).

Vectors live in ``../shared/vectors`` beside the repository root; ``SIGIL_VECTORS_DIR`` overrides it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def vectors_dir() -> Path:
    override = os.environ.get("SIGIL_VECTORS_DIR")
    if override:
        return Path(override)
    return (REPO_ROOT / ".." / "shared" / "vectors").resolve()


# --- Wycheproof ECDSA ---------------------------------------------------------------------------

WYCHEPROOF_FILES = (
    "ecdsa_secp256r1_sha256_test.json",
    "ecdsa_secp256r1_sha256_p1363_test.json",
    "ecdsa_secp256k1_sha256_test.json",
    "ecdsa_secp256k1_sha256_p1363_test.json",
    "ecdsa_secp256k1_sha256_bitcoin_test.json",
    "ecdsa_secp384r1_sha384_test.json",
)
_WYCHEPROOF_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp256k1": "secp256k1"}


@dataclass(frozen=True)
class WycheproofCase:
    file: str
    tc_id: int
    curve: str  # Sigil curve name
    hash_name: str  # "SHA-256", ...
    public_key: bytes  # SEC1 uncompressed
    msg: bytes
    sig: bytes
    encoding: str  # "der" or "raw"
    low_s: bool  # Bitcoin rules (the bitcoin file)
    result: str  # "valid" | "invalid" | "acceptable"
    comment: str

    @property
    def id(self) -> str:
        stem = self.file.removeprefix("ecdsa_").removesuffix(".json")
        return f"{stem}-tc{self.tc_id}"


@cache
def wycheproof_ecdsa(filename: str) -> tuple[WycheproofCase, ...]:
    data: dict[str, Any] = json.loads((vectors_dir() / "wycheproof" / filename).read_text())
    schema = data["schema"]
    encoding = "raw" if "p1363" in schema else "der"
    low_s = "bitcoin" in schema
    cases = []
    for group in data["testGroups"]:
        pk = group["publicKey"]
        for t in group["tests"]:
            cases.append(
                WycheproofCase(
                    file=filename,
                    tc_id=t["tcId"],
                    curve=_WYCHEPROOF_CURVES[pk["curve"]],
                    hash_name=group["sha"],
                    public_key=bytes.fromhex(pk["uncompressed"]),
                    msg=bytes.fromhex(t["msg"]),
                    sig=bytes.fromhex(t["sig"]),
                    encoding=encoding,
                    low_s=low_s,
                    result=t["result"],
                    comment=t["comment"],
                )
            )
    assert len(cases) == data["numberOfTests"], filename
    return tuple(cases)


def all_wycheproof_ecdsa() -> list[WycheproofCase]:
    return [c for f in WYCHEPROOF_FILES for c in wycheproof_ecdsa(f)]


# --- RFC 6979 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rfc6979Case:
    curve: str
    hash_name: str
    x: bytes  # private scalar
    ux: int
    uy: int
    message: bytes
    k: int
    r: int
    s: int  # as published (low-S for the secp256k1 community sets)
    low_s_published: bool
    source: str

    @property
    def id(self) -> str:
        return f"{self.curve}-{self.source}-{self.message[:24].decode(errors='replace')}"


@cache
def rfc6979() -> tuple[Rfc6979Case, ...]:
    base = vectors_dir() / "rfc6979"
    out: list[Rfc6979Case] = []
    p256 = json.loads((base / "p256_sha256.json").read_text())
    for c in p256["cases"]:
        out.append(
            Rfc6979Case(
                curve=p256["curve"],
                hash_name=p256["hash"],
                x=bytes.fromhex(p256["x"]),
                ux=int(p256["Ux"], 16),
                uy=int(p256["Uy"], 16),
                message=c["message"].encode(),
                k=int(c["k"], 16),
                r=int(c["r"], 16),
                s=int(c["s"], 16),
                low_s_published=False,
                source="rfc6979",
            )
        )
    k1 = json.loads((base / "secp256k1_sha256.json").read_text())
    for c in k1["cases"]:
        out.append(
            Rfc6979Case(
                curve=k1["curve"],
                hash_name=k1["hash"],
                x=bytes.fromhex(c["x"]),
                ux=int(c["Ux"], 16),
                uy=int(c["Uy"], 16),
                message=c["message"].encode(),
                k=int(c["k"], 16),
                r=int(c["r"], 16),
                s=int(c["s"], 16),
                low_s_published=True,
                source=c["source"],
            )
        )
    return tuple(out)
