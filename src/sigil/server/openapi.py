"""``/openapi.json`` built from the endpoint registry and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

import sigil
from sigil.server.http import AUTH_NONE, Endpoint

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
}
_ERROR_TEXT = {
    400: "Malformed body",
    401: "Missing or invalid token",
    403: "Token lacks the scope",
    404: "Unknown, or not the caller's",
    409: "State conflict",
    413: "Too large",
    415: "Not JSON",
    422: "Invalid content",
}


def build_openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sigil",
            "version": sigil.__version__,
            "description": "Self-hostable ECDSA signing service. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower()).strip('_')}",
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", ep.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in ep.query
    ]
    if params:
        op["parameters"] = params
    if ep.auth != AUTH_NONE:
        op["security"] = [{"bearer": []}]
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(ep.body, schemas)}},
        }
    ok: dict[str, Any] = {"description": "OK"}
    if ep.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(ep.response, schemas)}}
    elif ep.path != "/metrics":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    else:
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(ep.status): ok}
    codes = {404, *ep.errors}
    if ep.body is not None:
        codes |= {400, 413, 422}
    if ep.auth != AUTH_NONE:
        codes |= {401, 403}
    if ep.query:
        codes.add(422)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "Error"), "content": problem}
    op["responses"] = responses
    return op
