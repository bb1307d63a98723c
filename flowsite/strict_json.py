"""JSON that Python accepts but no database stores, found before it reaches one.

Python's parser takes `1e400` (infinity, which jsonb refuses), `NaN`, text with NUL characters or lone
surrogates (PostgreSQL refuses both), and fails with a RecursionError on a body nested a few thousand
deep. Every door that takes JSON from a user (the API's parser, the admin's forms, run parameters
from the command line) reads it through here, so that each refuses the same things in the same words.
"""

from __future__ import annotations

import json
import math
from typing import IO, Any

# Far below Python's recursion limit: a value parsed near that limit fails again wherever it is next
# encoded (to store it, to send it back) from a deeper stack, as a 500.
MAX_DEPTH = 100


def loads(text: str) -> Any:
    """`json.loads`, but only finite numbers and at most MAX_DEPTH levels of nesting; ValueError for the rest."""
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    if _deeper_than(data, MAX_DEPTH):
        raise ValueError(f"nested too deeply (at most {MAX_DEPTH} levels)")
    return data


def load(stream: IO[str]) -> Any:
    return loads(stream.read())


def param_value(raw: str) -> Any:
    """A command-line parameter's value: JSON when it is JSON (5, 0.1, true, [1]), else the text as given.

    ValueError for JSON that no database stores (1e400, nested too deeply).
    """
    try:
        return loads(raw)
    except json.JSONDecodeError:
        return raw


def unstorable(data: Any) -> str:
    """What in `data` (strings, keys and numbers, at any depth) no database stores, or ""; without recursion."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "a NUL character (\\u0000)"
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return "a lone surrogate (\\ud800-\\udfff)"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"a number JSON cannot hold ({value})"
    return ""


def _deeper_than(data: Any, limit: int) -> bool:
    pending = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth == limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:40]} is too large")
    return value


def _no_constant(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON number")
