"""One place that turns ``sigil.mpc`` errors into the service's error taxonomy (``sigil.errors``).

``sigil.mpc`` is pure and knows nothing of HTTP; its messages never hold secret values, so they are
passed on to the caller as the problem's ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sigil.errors import MpcInvalidMessage, MpcInvalidProof, MpcInvalidShare
from sigil.mpc import errors as mpc_errors

T = TypeVar("T")

# What ``mapped`` turns a refused protocol message into: a step that catches these records the
# rejection in the audit log before re-raising.
REJECTED = (MpcInvalidMessage, MpcInvalidProof, MpcInvalidShare)


@contextmanager
def mapped() -> Iterator[None]:
    """Run a protocol step; its ``MpcError`` becomes a 422 with a stable code."""
    try:
        yield
    except mpc_errors.InvalidProof as exc:
        proof = getattr(exc, "proof", None)
        detail = str(exc) or "a proof does not check"
        if proof and proof not in detail:
            detail = f"{proof}: {detail}"
        raise MpcInvalidProof(detail) from None
    except mpc_errors.InvalidShare as exc:
        raise MpcInvalidShare(str(exc) or "the share does not match its commitments") from None
    except mpc_errors.MpcError as exc:  # InvalidMessage, and anything else the protocol refuses
        raise MpcInvalidMessage(str(exc) or "invalid message") from None


def parse(reader: Callable[[Any], T], data: Any, field: str) -> T:
    """``reader(data)`` for a message the caller sent (``SomeMessage.from_json``). Anything it
    refuses, and any Python error a hostile shape provokes in it, is a 422 naming ``field``."""
    if not isinstance(data, dict):
        raise MpcInvalidMessage(f"{field} must be a JSON object")
    try:
        with mapped():
            return reader(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError):
        raise MpcInvalidMessage(f"{field} is malformed") from None
