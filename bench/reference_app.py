"""Bare reference ASGI app for the HTTP benchmark.

This is the yardstick Sigil's sign endpoint is measured against: the least a Python ASGI service can do
to answer "sign this message" — parse the JSON body, sign the UTF-8 bytes of ``data`` with a P-256 key
held in memory (RFC 6979 deterministic ECDSA with SHA-256, DER), answer ``{"signature": <base64>}``.
No auth, no key lookup, no audit, no validation beyond what it needs to not crash.
The same route also takes ``{"items": [{"data": ...}, ...]}`` (Sigil's batch shape) and answers
``{"signatures": [...]}``: the batch benchmark reports it as context, not as its ratio's denominator.

Served by granian exactly like ``sigil serve`` (ASGI interface, same worker count, same host), e.g.::

    granian --interface asgi --workers 2 --port 8800 --working-dir bench reference_app:app

Each worker process generates its own key at import time; the benchmark only counts responses.
"""

from __future__ import annotations

import base64

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_KEY = ec.generate_private_key(ec.SECP256R1())
_ALG = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_JSON = "application/json"


def _json(obj: object, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=_JSON)


def _sign_b64(data: str) -> str:
    return base64.b64encode(_KEY.sign(data.encode(), _ALG)).decode("ascii")


async def sign(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        if "items" in body:  # batch, shaped like Sigil's: {"items": [{"data": ...}, ...]}
            return _json({"signatures": [_sign_b64(item["data"]) for item in body["items"]]})
        return _json({"signature": _sign_b64(body["data"])})
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return _json({"error": "bad request"}, 400)


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


app = Starlette(
    routes=[
        Route("/sign", sign, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
