"""How the API reads request bodies: JSON that Python parses but no database stores is a 400.

Apart from `api_defaults` because DRF imports the default parser classes while `rest_framework.views`
is still loading, so this module must not import it.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's, but what Python's parser accepts and no database stores is a 400 like any other bad JSON:
    a body nested too deep to parse, and numbers too big for a float (1e400 is infinity, which jsonb refuses).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.load(codecs.getreader(encoding)(stream), parse_float=_finite, parse_constant=_no_constant)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class StrictTextJSONParser(JSONParser):
    """The API's parser: text that no database can store (NUL, a lone surrogate) is a 400 too.

    The remote runner's report endpoint keeps the lenient parser: what user code printed is made
    storable there rather than refused.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        problem = _unstorable_text(data)
        if problem:
            raise exceptions.ParseError(f"JSON parse error - a string holds {problem}")
        return data


def _unstorable_text(data: Any) -> str:
    """What in the parsed body's strings (keys included) no database stores, or ""; without recursion."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "a NUL character (\\u0000)"
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return "a lone surrogate (\\ud800-\\udfff)"
    return ""


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:40]} is too large")
    return value


def _no_constant(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON number")
