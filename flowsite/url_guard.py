"""A NUL byte in an address is a 400 before any view runs.

No page or endpoint takes one, and PostgreSQL refuses it in any lookup (a DataError, a 500), on paths
no view vets: the admin's filters and autocomplete, a streamed log download whose query runs after
its 200 has gone out. Lone surrogates need no such guard: Django decodes paths and queries with
replacement, so none reaches a view.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse

NUL = "holds a NUL character (\\u0000)"


class RefuseNulInUrl:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields: dict[str, str] = {}
        if "\x00" in request.path:
            fields["path"] = NUL
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                fields[name.replace("\x00", "\\u0000")] = NUL
        if not fields:
            return self.get_response(request)
        message = "; ".join(f"{name}: {reason}" for name, reason in fields.items())
        if request.path.startswith("/api/"):
            error = {"status": 400, "code": "invalid", "message": message, "fields": fields}
            return JsonResponse({"error": error}, status=400)
        raise BadRequest(message)
