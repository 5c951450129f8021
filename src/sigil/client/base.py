"""Shared HTTP plumbing for the Sigil SDK: configuration, transport errors, problem+json mapping.

Configuration comes from the constructor's arguments, else the environment (``SIGIL_URL``,
``SIGIL_TOKEN``), else the defaults. The bearer token is kept in the ``httpx`` client's headers only:
it never appears in an exception message, a ``repr`` or a log line produced here.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Self

import httpx

DEFAULT_URL = "http://127.0.0.1:8700"
DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
USER_AGENT = "sigil-client/0.1"


class ClientError(Exception):
    """Base class of every error the SDK raises."""


class ServerUnreachable(ClientError):
    """The server could not be reached at all (refused, DNS failure, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach Sigil at {url}: {reason}")


class TransportFailure(ClientError):
    """Connected, but the exchange failed midway (connection reset, protocol error, read timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"request to Sigil at {url} failed: {reason}")


class ApiError(ClientError):
    """The server answered with an error status (normally an RFC 9457 problem+json body)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors or []
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.status} {self.code}: {self.title}"
        if self.detail and self.detail != self.title:
            text += f" — {self.detail}"
        return text

    def __repr__(self) -> str:
        return (
            f"ApiError(status={self.status}, code={self.code!r}, "
            f"title={self.title!r}, detail={self.detail!r})"
        )


def resolve_url(url: str | None) -> str:
    """The base URL: the argument, else ``SIGIL_URL``, else the default; no trailing slash."""
    chosen = url or os.environ.get("SIGIL_URL") or DEFAULT_URL
    return chosen.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """The bearer token: the argument, else ``SIGIL_TOKEN``, else none."""
    if token is not None:
        return token or None
    return os.environ.get("SIGIL_TOKEN") or None


def _problem_from_response(response: httpx.Response) -> ApiError:
    """Turn an error response into an ``ApiError``; tolerate bodies that are not problem+json."""
    status = response.status_code
    reason = response.reason_phrase or "HTTP error"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        snippet = response.text.strip()[:200] or None
        return ApiError(status, "http_error", reason, snippet)
    errors = body.get("errors")
    return ApiError(
        status=int(body.get("status") or status),
        code=str(body.get("code") or "http_error"),
        title=str(body.get("title") or reason),
        detail=None if body.get("detail") is None else str(body["detail"]),
        errors=errors if isinstance(errors, list) else None,
    )


class BaseClient:
    """A synchronous JSON-over-HTTP client; use it as a context manager or call ``close()``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = resolve_url(url)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        resolved = resolve_token(token)
        if resolved:
            headers["Authorization"] = f"Bearer {resolved}"
        self.has_token = resolved is not None
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            transport=transport,
        )

    def __repr__(self) -> str:
        token_state = "set" if self.has_token else "unset"
        return f"{type(self).__name__}(url={self.url!r}, token={token_state})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body, or raise ``ApiError``/``ServerUnreachable``."""
        try:
            response = self._http.request(method, path, json=json, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(self.url, type(exc).__name__) from None
        except httpx.TimeoutException as exc:
            raise TransportFailure(self.url, f"{type(exc).__name__} (no answer in time)") from None
        except httpx.TransportError as exc:
            raise TransportFailure(self.url, f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise _problem_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, "bad_response", "Response is not JSON") from None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, params=params)
