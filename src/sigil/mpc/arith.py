"""The one arithmetic module of the protocol: secp256k1 points and the big-integer helpers Paillier needs.

Two backends give identical results (tests/unit/test_mpc_arith.py compares them): "native" (libsecp256k1
through coincurve for points, GMP through gmpy2 for integers) whenever both import, else "python" (pure
Python, what Pyodide runs). ``SIGIL_MPC_BACKEND=python`` forces the pure one. Everything takes and returns
plain ``int``; a :class:`Point` is never the identity, so a function that would produce it raises
:class:`~sigil.mpc.errors.InvalidMessage` instead — a received point at infinity is always an attack or a bug.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

from sigil.mpc import _arith_python as _py
from sigil.mpc.errors import InvalidMessage

__all__ = [
    "BACKEND",
    "FIELD_P",
    "Backend",
    "G",
    "Point",
    "Q",
    "backend",
    "base_mul",
    "check_scalar",
    "crt_pair",
    "gcd",
    "invert",
    "is_probable_prime",
    "isqrt",
    "jacobi",
    "point_mul",
    "powmod",
    "random_below",
    "random_prime",
    "random_safe_prime",
    "random_scalar",
]

Q: Final = _py.Q
FIELD_P: Final = _py.FIELD_P


class Point:
    """An affine secp256k1 point other than the identity; immutable; equal when the encodings are equal."""

    __slots__ = ("_x", "_y")
    _x: int
    _y: int

    def __init__(self, x: int, y: int) -> None:
        if not _py.on_curve(x, y):
            raise InvalidMessage("point is not on secp256k1")
        object.__setattr__(self, "_x", x)
        object.__setattr__(self, "_y", y)

    @classmethod
    def _trusted(cls, xy: tuple[int, int] | None) -> Point:
        """Wrap a backend result (already on the curve); None — the identity — is refused."""
        if xy is None:
            raise InvalidMessage("the result is the point at infinity")
        pt = object.__new__(cls)
        object.__setattr__(pt, "_x", xy[0])
        object.__setattr__(pt, "_y", xy[1])
        return pt

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Point is immutable")

    @staticmethod
    def from_bytes(data: bytes) -> Point:
        """SEC 1 §2.3.4: 33-byte compressed (02/03) or 65-byte uncompressed (04); on-curve checked."""
        return _ACTIVE.point_from_bytes(data)

    def to_bytes(self, compressed: bool = True) -> bytes:
        """SEC 1 §2.3.3 encoding."""
        if compressed:
            return bytes((2 + (self._y & 1),)) + self._x.to_bytes(32, "big")
        return b"\x04" + self._x.to_bytes(32, "big") + self._y.to_bytes(32, "big")

    @property
    def x(self) -> int:
        return self._x

    @property
    def y(self) -> int:
        return self._y

    def __add__(self, other: Point) -> Point:
        return _ACTIVE.point_add(self, other)

    def __neg__(self) -> Point:
        return Point._trusted((self._x, FIELD_P - self._y))

    def __sub__(self, other: Point) -> Point:
        return _ACTIVE.point_add(self, -other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and self._x == other._x and self._y == other._y

    def __hash__(self) -> int:
        return hash((self._x, self._y))

    def __repr__(self) -> str:
        return f"Point({self.to_bytes().hex()})"


G: Final = Point(_py.GX, _py.GY)


def check_scalar(k: int, name: str) -> int:
    """k itself if it is an int in [1, Q); InvalidMessage naming the field otherwise."""
    if type(k) is not int or not 0 < k < Q:
        raise InvalidMessage(f"{name} out of range")
    return k


def random_scalar() -> int:
    """Uniform in [1, Q), from ``secrets``."""
    return 1 + secrets.randbelow(Q - 1)


def random_below(n: int) -> int:
    """Uniform in [0, n), from ``secrets``."""
    return secrets.randbelow(n)


class Backend:
    """The arithmetic functions over one backend module; :func:`backend` hands these out for tests."""

    def __init__(self, name: str, impl: ModuleType) -> None:
        self.name = name
        self._impl = impl

    # --- points -------------------------------------------------------------------------------

    def point_from_bytes(self, data: bytes) -> Point:
        if not isinstance(data, bytes | bytearray):
            raise InvalidMessage("point must be bytes")
        if len(data) == 33 and data[0] in (2, 3):
            x = int.from_bytes(data[1:], "big")
            y = self._impl.decompress(x, data[0] == 3)
            if y is None:
                raise InvalidMessage("point is not on secp256k1")
            return Point._trusted((x, y))
        if len(data) == 65 and data[0] == 4:
            x, y = int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big")
            if not self._impl.on_curve(x, y):
                raise InvalidMessage("point is not on secp256k1")
            return Point._trusted((x, y))
        raise InvalidMessage("point must be a 33-byte compressed or 65-byte uncompressed SEC1 encoding")

    def base_mul(self, k: int) -> Point:
        return Point._trusted(self._impl.base_mul(check_scalar(k, "scalar")))

    def point_mul(self, p: Point, k: int) -> Point:
        return Point._trusted(self._impl.mul((p.x, p.y), check_scalar(k, "scalar")))

    def point_add(self, a: Point, b: Point) -> Point:
        return Point._trusted(self._impl.add((a.x, a.y), (b.x, b.y)))

    # --- integers -----------------------------------------------------------------------------

    def powmod(self, b: int, e: int, m: int) -> int:
        return int(self._impl.powmod(b, e, m))

    def invert(self, a: int, m: int) -> int:
        return int(self._impl.invert(a, m))

    def gcd(self, a: int, b: int) -> int:
        return int(self._impl.gcd(a, b))

    def isqrt(self, n: int) -> int:
        return int(self._impl.isqrt(n))

    def jacobi(self, a: int, n: int) -> int:
        return int(self._impl.jacobi(a, n))

    def crt_pair(self, a_p: int, p: int, a_q: int, q: int) -> int:
        return int(self._impl.crt_pair(a_p, p, a_q, q))

    def is_probable_prime(self, n: int) -> bool:
        return bool(self._impl.is_probable_prime(n))

    def random_prime(self, bits: int, *, blum: bool = False) -> int:
        return int(self._impl.random_prime(bits, blum=blum))

    def random_safe_prime(self, bits: int) -> int:
        return int(self._impl.random_safe_prime(bits))


def _load_native() -> Backend | None:
    try:
        from sigil.mpc import _arith_native
    except ImportError:
        return None
    return Backend("native", _arith_native)


_PYTHON: Final = Backend("python", _py)
_NATIVE: Final = None if os.environ.get("SIGIL_MPC_BACKEND", "").lower() == "python" else _load_native()
_ACTIVE: Final = _NATIVE or _PYTHON

#: The backend in use: "native" or "python".
BACKEND: Final[str] = _ACTIVE.name


def backend(name: str) -> Backend:
    """The named backend ("python" or "native"), whatever the active one; for tests and benchmarks."""
    if name == "python":
        return _PYTHON
    if name == "native":
        native = _NATIVE or _load_native()
        if native is None:
            raise ImportError("the native backend needs gmpy2 and coincurve")
        return native
    raise ValueError(f"unknown backend {name!r}")


# Module-level functions: the active backend's, bound once (no per-call dispatch on the hot path).
base_mul: Final = _ACTIVE.base_mul
point_mul: Final = _ACTIVE.point_mul
powmod: Final[Callable[[int, int, int], int]] = _ACTIVE._impl.powmod
invert: Final[Callable[[int, int], int]] = _ACTIVE._impl.invert
gcd: Final[Callable[[int, int], int]] = _ACTIVE._impl.gcd
isqrt: Final[Callable[[int], int]] = _ACTIVE._impl.isqrt
jacobi: Final[Callable[[int, int], int]] = _ACTIVE._impl.jacobi
crt_pair: Final[Callable[[int, int, int, int], int]] = _ACTIVE._impl.crt_pair
is_probable_prime: Final = _ACTIVE.is_probable_prime
random_prime: Final = _ACTIVE.random_prime
random_safe_prime: Final = _ACTIVE.random_safe_prime
