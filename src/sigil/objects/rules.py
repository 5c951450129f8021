"""A small declarative format for PAF signature inputs, and the one function that evaluates it.

A :class:`Rule` is an ordered tuple of parts. Each part yields zero or more strings; the signature
input is every string joined with U+2063 (INVISIBLE SEPARATOR), as the PAF specification says
("Signature based on input: ``a + '\\u2063' + b + ...``").

Paths are dotted field names with three list forms::

    source.domain                          one value
    transaction_ids[*]                     every item of a list, in order
    identifiers[type=paf_browser_id]       the first item whose ``type`` equals ``paf_browser_id``

A path is read from the object itself, or — with ``context=True`` — from the context mapping the
caller passes beside it (what the signer saw outside the object: the HTTP ``origin``, the
identifiers a preference signature binds to, the seed a transmission answers).

Values are written as the reference implementation writes them with JavaScript string joins:
strings as they are, integers in decimal, booleans as ``true``/``false``. :class:`Entries` writes
the values of a mapping either that way (``"text"``) or JSON-encoded (``"json"``, the
implementation's ``JSON.stringify``).

This module is pure: it raises :class:`~sigil.errors.BadRequest` subclasses for missing fields and
wrong types, and knows nothing about keys or signatures.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from sigil.errors import MissingField, WrongFieldType

SEPARATOR = "\u2063"

Kind = Literal["str", "int", "scalar"]

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<sel>\*|[A-Za-z_][A-Za-z0-9_]*=[^\]]*)\])?$")


@dataclass(frozen=True)
class Field:
    """The value(s) at ``path``.

    ``kind`` is the JSON type each value must have: ``str``, ``int`` (a JSON integer, not a boolean),
    or ``scalar`` (string, number or boolean). ``optional`` names a prefix of ``path`` that may be
    absent as a whole (then the part yields nothing); anything missing below it is an error.
    """

    path: str
    kind: Kind = "str"
    context: bool = False
    optional: str | None = None


@dataclass(frozen=True)
class Each:
    """For every item of the list at ``path``, the values at ``fields`` (relative paths), in order."""

    path: str
    fields: tuple[str, ...]
    kind: Kind = "str"
    context: bool = False


@dataclass(frozen=True)
class Entries:
    """For every entry of the mapping at ``path`` (in its order): the key, then the value.

    ``values="text"`` writes a value as any other field; ``values="json"`` JSON-encodes it
    (strings get their quotes) as the reference implementation does.
    """

    path: str
    values: Literal["text", "json"]
    context: bool = False


@dataclass(frozen=True)
class RequestContext:
    """Where a request was sent from: ``origin`` (REST call), else ``referer`` then ``return_url``
    (redirect). Read from the context only."""


Part: TypeAlias = Field | Each | Entries | RequestContext


@dataclass(frozen=True)
class Rule:
    """An ordered list of parts; see the module docstring."""

    parts: tuple[Part, ...]

    def describe(self) -> str:
        """A one-line human form for docs and help: parts joined with `` S `` (S = U+2063)."""
        return " S ".join(describe_part(part) for part in self.parts)


def describe_part(part: Part) -> str:
    if isinstance(part, RequestContext):
        return "(origin | referer S return_url)"
    prefix = "context." if part.context else ""
    if isinstance(part, Field):
        text = prefix + part.path
        return f"[{text}]" if part.optional else text
    if isinstance(part, Each):
        return f"{prefix}{part.path}[*].({', '.join(part.fields)})"
    encoding = "json(value)" if part.values == "json" else "value"
    return f"{prefix}{part.path}: key S {encoding} ..."


# --- evaluation -------------------------------------------------------------------------------


def build_input(rule: Rule, obj: Mapping[str, object], context: Mapping[str, object]) -> str:
    """The signature input of ``obj`` under ``rule``: every part's strings joined with U+2063."""
    return SEPARATOR.join(evaluate(rule, obj, context))


def evaluate(rule: Rule, obj: Mapping[str, object], context: Mapping[str, object]) -> list[str]:
    """The list of strings ``rule`` selects, before joining."""
    out: list[str] = []
    for part in rule.parts:
        out.extend(_evaluate_part(part, obj, context))
    return out


def _evaluate_part(part: Part, obj: Mapping[str, object], context: Mapping[str, object]) -> list[str]:
    if isinstance(part, RequestContext):
        return request_context_values(context)
    root: Mapping[str, object] = context if part.context else obj
    label = "context" if part.context else ""
    if isinstance(part, Field):
        if part.optional is not None and not _present(root, part.optional):
            return []
        return [format_value(value, part.kind, where) for where, value in resolve(root, part.path, label)]
    if isinstance(part, Each):
        out: list[str] = []
        for where, item in resolve(root, part.path + "[*]", label):
            item_map = _as_mapping(item, where)
            for sub in part.fields:
                out.extend(format_value(v, part.kind, w) for w, v in resolve(item_map, sub, where))
        return out
    return _entries(part, root, label)


def _entries(part: Entries, root: Mapping[str, object], label: str) -> list[str]:
    out: list[str] = []
    for where, value in resolve(root, part.path, label):
        mapping = _as_mapping(value, where)
        if not mapping:
            raise MissingField(f"'{where}' must hold at least one entry")
        for key, item in mapping.items():
            out.append(key)
            item_where = f"{where}.{key}"
            if part.values == "json":
                out.append(json_value(item, item_where))
            else:
                out.append(format_value(item, "scalar", item_where))
    return out


def request_context_values(context: Mapping[str, object]) -> list[str]:
    """PAF request context: ``[origin]`` for a REST call, ``[referer, return_url]`` for a redirect."""
    origin = context.get("origin")
    if origin is not None and origin != "":
        return [format_value(origin, "str", "context.origin")]
    referer = context.get("referer")
    return_url = context.get("return_url", context.get("returnUrl"))
    if referer in (None, "") or return_url in (None, ""):
        raise MissingField(
            "this request's signature covers where it came from: give context.origin (REST call) "
            "or context.referer and context.return_url (redirect)"
        )
    return [
        format_value(referer, "str", "context.referer"),
        format_value(return_url, "str", "context.return_url"),
    ]


# --- paths --------------------------------------------------------------------------------------


def _join(label: str, name: str) -> str:
    return f"{label}.{name}" if label else name


def _parse(path: str) -> list[tuple[str, str | None]]:
    segments: list[tuple[str, str | None]] = []
    for raw in path.split("."):
        match = _SEGMENT.match(raw)
        if match is None:
            raise ValueError(f"bad rule path segment {raw!r} in {path!r}")
        segments.append((match["name"], match["sel"]))
    return segments


def resolve(root: Mapping[str, object], path: str, label: str = "") -> list[tuple[str, object]]:
    """Every ``(where, value)`` that ``path`` selects under ``root``; ``where`` is a readable path."""
    current: list[tuple[str, object]] = [(label, root)]
    for name, selector in _parse(path):
        following: list[tuple[str, object]] = []
        for where, node in current:
            mapping = _as_mapping(node, where or "object")
            here = _join(where, name)
            if name not in mapping:
                raise MissingField(f"missing field '{here}'")
            value = mapping[name]
            if selector is None:
                following.append((here, value))
                continue
            items = _as_list(value, here)
            if selector == "*":
                following.extend((f"{here}[{i}]", item) for i, item in enumerate(items))
                continue
            key, _, wanted = selector.partition("=")
            found = [
                (f"{here}[{i}]", item)
                for i, item in enumerate(items)
                if isinstance(item, Mapping) and item.get(key) == wanted
            ]
            if not found:
                raise MissingField(f"'{here}' has no item with {key} = {wanted!r}")
            following.append(found[0])
        current = following
    return current


def _present(root: Mapping[str, object], path: str) -> bool:
    """Whether every segment of a plain dotted ``path`` exists (and is not null)."""
    node: object = root
    for name, _selector in _parse(path):
        if not isinstance(node, Mapping) or node.get(name) is None:
            return False
        node = node[name]
    return True


def _as_mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise WrongFieldType(f"'{where}' must be a JSON object, not {json_type(value)}")
    return value


def _as_list(value: object, where: str) -> Sequence[object]:
    if not isinstance(value, list | tuple):
        raise WrongFieldType(f"'{where}' must be a JSON array, not {json_type(value)}")
    return value


# --- values -------------------------------------------------------------------------------------


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def format_value(value: object, kind: Kind, where: str) -> str:
    """One value as the reference implementation's string join writes it."""
    if kind == "str":
        if not isinstance(value, str):
            raise WrongFieldType(f"'{where}' must be a string, not {json_type(value)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise WrongFieldType(f"'{where}' must be an integer, not {json_type(value)}")
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value, where)
    raise WrongFieldType(f"'{where}' must be a string, number or boolean, not {json_type(value)}")


def _js_number(value: float, where: str) -> str:
    if not math.isfinite(value):
        raise WrongFieldType(f"'{where}' must be a finite number")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def json_value(value: object, where: str) -> str:
    """``JSON.stringify(value)`` for the JSON values a preference can hold (compact, UTF-8 kept)."""
    if isinstance(value, float):
        return _js_number(value, where)
    if value is None or isinstance(value, str | int | bool):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping | list | tuple):
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise WrongFieldType(f"'{where}' is not JSON-encodable") from exc
    raise WrongFieldType(f"'{where}' is not a JSON value")
