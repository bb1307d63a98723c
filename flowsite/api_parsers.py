"""How the API reads request bodies: JSON that Python parses but no database stores is a 400.

Apart from `api_defaults` because DRF imports the default parser classes while `rest_framework.views`
is still loading, so this module must not import it.
"""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

from . import strict_json


class JSONParser(parsers.JSONParser):
    """DRF's, but what Python's parser accepts and no database stores is a 400 like any other bad JSON:
    a body nested too deep to parse, and numbers too big for a float (1e400 is infinity, which jsonb refuses).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return strict_json.load(codecs.getreader(encoding)(stream))
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class StrictTextJSONParser(JSONParser):
    """The API's parser: text that no database can store (NUL, a lone surrogate) is a 400 too.

    The remote runner's report endpoint keeps the lenient parser: what user code printed is made
    storable there rather than refused.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        problem = strict_json.unstorable(data)
        if problem:
            raise exceptions.ParseError(f"JSON parse error - a string holds {problem}")
        return data
