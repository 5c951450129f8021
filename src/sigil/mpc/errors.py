"""The errors of the two-party protocol.

Every failure inside :mod:`sigil.mpc` is one of these four families, so the server maps them to problem+json
in one place (``InvalidMessage`` → 422 ``mpc_invalid_message`` and so on) and the client knows which failure
obliges it to lock the pairing: only :class:`SignatureFailed`.

The classes do not derive from :class:`sigil.errors.SigilError` on purpose: ``sigil.mpc`` also runs under
Pyodide, where only this package is loaded. Messages never contain secret values (shares, nonces, Paillier
factors); they name the field or the proof that failed.
"""

from __future__ import annotations

__all__ = ["InvalidMessage", "InvalidProof", "InvalidShare", "MpcError", "SignatureFailed"]


class MpcError(Exception):
    """Base class of every error the protocol raises on purpose."""


class InvalidMessage(MpcError):
    """A malformed field: wrong type or length, a scalar out of range, a point off-curve or at infinity."""


class InvalidProof(MpcError):
    """A zero-knowledge proof, a Schnorr proof or a decommitment does not verify.

    ``proof`` names which one ("schnorr", "commitment", "pi_mod", ...) for the error mapping and the audit.
    """

    def __init__(self, proof: str, detail: str | None = None) -> None:
        self.proof = proof
        super().__init__(detail or f"{proof} proof does not verify")


class InvalidShare(MpcError):
    """A share does not match its Feldman commitments (or shares that disagree with each other)."""


class SignatureFailed(MpcError):
    """The signature the two parties produced does not verify.

    The caller MUST lock the pairing (CVE-2023-33242): whether a signature succeeds is exactly the bit a
    malicious server learns about the client's share when it sends a crafted c3.
    """
