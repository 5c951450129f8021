"""Signed data objects: the Prebid Addressability Framework (PAF / OneKey) signature rules.

A signer computes an object's *signature input* (chosen fields joined with U+2063, numbers in
decimal), hashes it with SHA-256, signs it with ECDSA P-256 and stores the base64 signature in the
object. :mod:`sigil.objects.rules` holds the declarative rule format, :mod:`sigil.objects.types`
the PAF object types, :mod:`sigil.objects.profiles` the rule profiles and
:mod:`sigil.objects.service` the domain API re-exported here. See ``docs/objects.md``.
"""

from sigil.objects.profiles import ALL_PROFILES, DEFAULT_PROFILE, HISTORICAL_PROFILES, PROFILES
from sigil.objects.service import (
    ChainLink,
    ChainReport,
    LinkResult,
    SignedObject,
    Signer,
    VerifiedObject,
    private_key_signer,
    sign_object,
    signature_input,
    verify_chain,
    verify_object,
)
from sigil.objects.types import OBJECT_TYPES, ObjectType, get_type

__all__ = [
    "ALL_PROFILES",
    "DEFAULT_PROFILE",
    "HISTORICAL_PROFILES",
    "OBJECT_TYPES",
    "PROFILES",
    "ChainLink",
    "ChainReport",
    "LinkResult",
    "ObjectType",
    "SignedObject",
    "Signer",
    "VerifiedObject",
    "get_type",
    "private_key_signer",
    "sign_object",
    "signature_input",
    "verify_chain",
    "verify_object",
]
