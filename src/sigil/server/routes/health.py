"""GET /healthz and GET /metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from sigil.server.http import AUTH_NONE, Endpoint, json, service


async def healthz(_request: Request) -> Response:
    return json({"status": "ok"})


async def metrics(request: Request) -> Response:
    ctx = service(request).ctx
    lines = [
        "# HELP sigil_audit_entries_written Audit entries written by this worker.",
        "# TYPE sigil_audit_entries_written counter",
        f"sigil_audit_entries_written {ctx.audit.written}",
        "# HELP sigil_audit_entries_pending Audit entries queued, not yet written.",
        "# TYPE sigil_audit_entries_pending gauge",
        f"sigil_audit_entries_pending {ctx.audit.pending}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


ENDPOINTS = [
    Endpoint("GET", "/healthz", healthz, "Liveness check", "health", auth=AUTH_NONE),
    Endpoint("GET", "/metrics", metrics, "Prometheus metrics of this worker", "health", auth=AUTH_NONE),
]
