"""Wycheproof ECDSA verification vectors: our verify agrees with every test case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sigil.crypto import PublicKey, get_curve, verify
from vectors import WycheproofCase, all_wycheproof_ecdsa

CASES = all_wycheproof_ecdsa()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_wycheproof_verify(case: WycheproofCase) -> None:
    pk = PublicKey.from_sec1(get_curve(case.curve), case.public_key)
    got = verify(
        pk, case.sig, message=case.msg, hash_name=case.hash_name, encoding=case.encoding, low_s=case.low_s
    )
    if case.result == "acceptable":
        return
    assert got == (case.result == "valid"), f"{case.id}: {case.comment}"


def test_all_files_loaded() -> None:
    assert len(CASES) == 484 + 262 + 476 + 252 + 463 + 504
