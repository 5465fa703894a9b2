"""JSON that every client can read back: strict parsing and bounded shapes.

``loads`` accepts what RFC 8259 calls JSON and nothing more (no ``NaN``, no ``Infinity``, no
number that overflows to an infinity, no lone surrogate in a string: JavaScript's
``JSON.parse`` and ``jq`` reject what such values turn into), within a size and a nesting
depth. ``depth`` measures a value without recursion, so a value that is already too deep can
be recognised without a stack overflow. A leaf: anyone may import it.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_INTEGER = 2**1023
"""Integers beyond a double's range are infinities to JavaScript's ``JSON.parse``."""
MAX_DEPTH = 32
"""Nesting levels of a stored JSON value (an object inside an object is two)."""


class JsonError(ValueError):
    """Text that is not JSON within the bounds; the message says what is wrong."""


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"the number {text[:40]} is too large for JSON readers")
    return value


def _integer(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_INTEGER:
        raise JsonError(f"the number {text[:40]}… is too large for JSON readers")
    return value


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not JSON")


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests (a scalar is 0, ``{}`` is 1), counted up to ``limit + 1``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level) for child in
                         (item.values() if isinstance(item, dict) else item))
    return deepest


def check(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """JsonError if ``value`` nests deeper than ``max_depth``, holds a number JSON cannot
    carry (NaN, infinities) or a string that is not valid Unicode (a lone surrogate)."""
    if depth(value, max_depth) > max_depth:
        raise JsonError(f"it is nested deeper than {max_depth} levels")
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonError(f"{item} is not a JSON number")
        elif isinstance(item, int) and abs(item) > MAX_INTEGER:
            raise JsonError("an integer is too large for JSON readers")
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise JsonError("a string holds a lone surrogate (not Unicode text)") from None


def loads(text: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The value of ``text``; JsonError if it is not strict JSON, is longer than
    ``max_bytes`` (UTF-8) or nests deeper than ``max_depth``."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise JsonError(f"it is longer than {max_bytes} bytes")
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_number,
                           parse_int=_integer)
    except RecursionError:
        raise JsonError(f"it is nested deeper than {max_depth} levels") from None
    except JsonError:
        raise
    except ValueError as exc:
        raise JsonError(f"it is not JSON ({exc})") from None
    check(value, max_depth)
    return value


def dumps(value: Any) -> str:
    """Compact JSON of a value that ``check`` accepts."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
