"""Python SDK for Sigil over HTTP (httpx).

Configuration: ``url``/``token`` arguments, else ``SIGIL_URL`` (default ``http://127.0.0.1:8700``)
and ``SIGIL_TOKEN``. Errors, all ``ClientError``: ``ApiError`` (the server answered with
problem+json: ``status``, ``code``, ``title``, ``detail``), ``ServerUnreachable`` (no connection),
``TransportFailure`` (the exchange broke off midway).
"""

from sigil.client.base import DEFAULT_URL, ApiError, ClientError, ServerUnreachable, TransportFailure
from sigil.client.keys import (
    AuditEntry,
    AuditReport,
    BatchSignResult,
    CreatedKey,
    CreatedToken,
    JwtResult,
    KeyInfo,
    KeysClient,
    KeyVersion,
    PublicKeyInfo,
    SignResult,
)

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "AuditEntry",
    "AuditReport",
    "BatchSignResult",
    "ClientError",
    "CreatedKey",
    "CreatedToken",
    "JwtResult",
    "KeyInfo",
    "KeyVersion",
    "KeysClient",
    "PublicKeyInfo",
    "ServerUnreachable",
    "SignResult",
    "TransportFailure",
]
