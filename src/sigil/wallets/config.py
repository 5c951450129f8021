"""MPC settings, read once from the environment (``sigil.server.settings`` is the keys part's)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class MpcConfig:
    # Keygen and signing sessions: short (DESIGN.md: sessions are single-use and expire).
    session_ttl: int = 60
    # Pairing: the client makes a 2048-bit Paillier key and three proofs between the two calls,
    # which under Pyodide in a browser takes far longer than a signature.
    pairing_ttl: int = 600
    # Precomputed Paillier randomness r^N mod N^2 kept per pairing in each worker.
    rn_pool_size: int = 4
    # Pre-generated server parameters to import instead of generating them (operators with a
    # faster machine; the test suite, which would otherwise spend ~20 s per server on safe primes).
    params_file: str | None = None
    ring_pedersen_bits: int = 2048

    @classmethod
    def from_env(cls) -> MpcConfig:
        return cls(
            session_ttl=int(os.environ.get("SIGIL_MPC_SESSION_TTL") or 60),
            pairing_ttl=int(os.environ.get("SIGIL_MPC_PAIRING_TTL") or 600),
            rn_pool_size=int(os.environ.get("SIGIL_MPC_RN_POOL") or 4),
            params_file=os.environ.get("SIGIL_MPC_PARAMS_FILE") or None,
        )
