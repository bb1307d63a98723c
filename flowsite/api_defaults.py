"""What every API endpoint shares: error bodies and pagination."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from drf_spectacular import openapi
from drf_spectacular.drainage import warn
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, filters, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def _flatten(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error details as {"field.sub": "reason"}."""
    if isinstance(detail, dict):
        fields: dict[str, str] = {}
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" and prefix else f"{prefix}.{key}" if prefix else str(key)
            fields.update(_flatten(value, name))
        return fields
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "request": " ".join(str(item) for item in detail)}
        fields = {}
        for index, item in enumerate(detail):
            fields.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    return {prefix or "request": str(detail)}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {"error": {"status", "code", "message", "fields"}}; `fields` names each bad input."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.ParseError(f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DataError):
        # A value in the URL or query the database cannot take (a NUL byte, a number out of range).
        exc = exceptions.ParseError("the request holds a value that cannot be stored or looked up (a NUL byte?)")
    response = exception_handler(exc, context)
    if response is None:
        return None
    body: dict[str, Any] = {"status": response.status_code, "code": "error", "message": "", "fields": {}}
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        body["code"] = "invalid"
        body["fields"] = fields
        body["message"] = "; ".join(f"{name}: {reason}" for name, reason in fields.items())
    elif isinstance(exc, exceptions.APIException):
        body["code"] = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body["message"] = str(exc.detail)
    extra = getattr(exc, "extra", None)
    if extra:
        body.update(extra)
    response.data = {"error": body}
    return response


class Conflict(exceptions.APIException):
    """The resource's state forbids the action (cancelling a finished run)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


class Unprocessable(exceptions.APIException):
    """Well-formed, but it contradicts what the server already holds (an Idempotency-Key reused for another request)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable"

    def __init__(self, message: str, code: str, fields: dict[str, str]) -> None:
        super().__init__(message, code)
        self.extra = {"fields": fields}


class Refused(exceptions.PermissionDenied):
    """Signed in, but what was asked is not permitted (a stack not granted to the project); `fields` names it."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.extra = {"fields": fields}


BAD_CURSOR = "not a cursor this API gave out"


class CursorPagination(pagination.CursorPagination):
    """Newest first, fast at any depth; a malformed cursor is a 400 that says so."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: f"must be a whole number from 1 to {self.max_page_size}, not {raw[:40]!r}"}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size
                }  # fmt: skip
        return parameters

    def get_paginated_response(self, data: Any) -> Response:
        next_link, previous_link = self.get_next_link(), self.get_previous_link()
        # The cursors themselves beside the links, so that a client passes one back as `cursor` without
        # taking a URL apart.
        return Response(
            {
                "next": next_link,
                "next_cursor": self._cursor_of(next_link),
                "previous": previous_link,
                "previous_cursor": self._cursor_of(previous_link),
                "results": data,
            }
        )

    def _cursor_of(self, link: str | None) -> str | None:
        if link is None:
            return None
        return parse_qs(urlsplit(link).query).get(self.cursor_query_param, [None])[0]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        def link(cursor: str, which: str) -> dict[str, Any]:
            return {
                "type": "string",
                "nullable": True,
                "format": "uri",
                "example": f"https://flowsite.example.com/api/runs/?{self.cursor_query_param}={cursor}",
                "description": f"The {which} page's address; null if there is none. `{which}_cursor` holds its "
                "cursor alone.",
            }

        def cursor(example: str, which: str) -> dict[str, Any]:
            return {
                "type": "string",
                "nullable": True,
                "example": example,
                "description": f"Pass as `{self.cursor_query_param}` (with the same filters) for the {which} page; "
                "null if there is none.",
            }

        return {
            "type": "object",
            "required": ["next", "next_cursor", "previous", "previous_cursor", "results"],
            "properties": {
                "next": link("cD0yMDI2LTExLTMwKzExJTNBMDA%3D", "next"),
                "next_cursor": cursor("cD0yMDI2LTExLTMwKzExJTNBMDA=", "next"),
                "previous": link("cj0xJnA9MjAyNi0xMS0zMCsxMSUzQTAw", "previous"),
                "previous_cursor": cursor("cj0xJnA9MjAyNi0xMS0zMCsxMSUzQTAw", "previous"),
                "results": schema,
            },
        }

    def decode_cursor(self, request: Any) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": BAD_CURSOR}) from None

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError:
            # A cursor that decodes but holds a position the ordering field cannot take.
            raise exceptions.ValidationError({"cursor": BAD_CURSOR}) from None


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="What went wrong, as a word a program can test: invalid, not_found...")
    message = serializers.CharField(allow_blank=True, help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.CharField(), help_text="Each bad input and why; empty when no one input is to blame."
    )


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers, whatever the operation: {"error": {...}}."""

    error = ErrorDetailSerializer()


def error_response(description: str, serializer: type[serializers.Serializer] = ErrorSerializer) -> OpenApiResponse:
    """An error a view documents beyond the ones every operation of its kind can answer (see AutoSchema)."""
    return OpenApiResponse(serializer, description=description)


class AutoSchema(openapi.AutoSchema):
    """Every operation documents the errors it can answer, in the one `Error` shape, and no other.

    Derived from what the operation takes: 401 and 429 (token guessing is throttled) for all; 400 where a body,
    a query or a path parameter can be malformed (flowsite.url_guard refuses a NUL anywhere in the address);
    404 where the path names an object; 403 for every change (a role, or a session's CSRF check). Anything else
    (a 409, a 403 on a read, a 422) a view declares itself with `error_response`; a derived one it cannot answer
    it names in `errors_not_answered`.

    Names: operation ids from the view's `api_resource` (see get_operation_id); every operation needs a summary
    and a description of its own (extend_schema or the action's docstring), or the schema warns and
    `spectacular --fail-on-warn` fails."""

    ERROR_CODES = {
        "400": "Bad input: `fields` names each field and the reason.",
        "401": "Not signed in, or the token is invalid.",
        "403": "Signed in, but your role does not allow this.",
        "404": "No such object, or not one you can see.",
        "429": "Too many requests with invalid tokens from your address: wait and try again.",
    }

    # What each standard action does to the view's `api_resource`: list_runs, get_run, create_project...
    VERBS = {
        "list": "list_{many}",
        "retrieve": "get_{one}",
        "create": "create_{one}",
        "update": "update_{one}",
        "partial_update": "patch_{one}",
        "destroy": "delete_{one}",
    }

    def get_operation_id(self) -> str:
        """`verb_resource`, as a person would name the call in a generated client: cancel_run, list_runs.

        The resource is the view's `api_resource` ("run", or ("run", "runs") where the plural is not an s away);
        an extra action is named for itself (`cancel` -> cancel_run). `extend_schema(operation_id=...)` names
        the calls that read better otherwise (trigger_run, tail_run_logs)."""
        resource = getattr(self.view, "api_resource", None)
        if resource is None:
            warn(f"{type(self.view).__name__} has no api_resource: its operations would get generated names")
            return super().get_operation_id()
        one, many = (resource, f"{resource}s") if isinstance(resource, str) else resource
        action = getattr(self.view, "action", None) or ("retrieve" if self.method == "GET" else self.method.lower())
        return self.VERBS.get(action, f"{action}_{{one}}").format(one=one, many=many)

    def get_summary(self) -> str | None:
        warn(f"{self.method} {self.path} has no summary: give it one with extend_schema(summary=...)")
        return None

    def get_description(self) -> str:
        # Each operation its own words: the view's docstring, which DRF would repeat on every one, is not used.
        action = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        description = get_doc(action) if action is not None else ""
        if not description:
            warn(f"{self.method} {self.path} has no description of its own: give it a docstring or extend_schema")
        return description

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, ["application/json"], direction)
                responses[code] = {**response, "description": self.ERROR_CODES[code]}
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[str]:
        parameters = self._get_parameters()
        codes = ["401", "429"]
        if self._get_request_body() or any(p["in"] in ("path", "query") for p in parameters):
            codes.append("400")
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            codes.append("403")
        if any(p["in"] == "path" for p in parameters):
            codes.append("404")
        return [code for code in codes if code not in getattr(self.view, "errors_not_answered", ())]


class StrictOrderingFilter(filters.OrderingFilter):
    """`ordering` takes only the fields a view lists (each optionally with "-"): anything else is a 400 that
    names them, where DRF's filter ignores it and answers as if it had not been asked."""

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        raw = request.query_params.get(self.ordering_param)
        if raw:
            allowed = self.allowed_orderings(view)
            unknown = [term.strip() for term in raw.split(",") if term.strip() not in allowed]
            if unknown:
                raise exceptions.ValidationError(
                    {self.ordering_param: f"unknown ordering {unknown[0][:40]!r}; one of: {', '.join(allowed)}"}
                )
        return super().get_ordering(request, queryset, view)

    @staticmethod
    def allowed_orderings(view: Any) -> list[str]:
        return [f"{sign}{field}" for field in getattr(view, "ordering_fields", []) for sign in ("", "-")]

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.ordering_param:
                parameter["schema"] = {"type": "string", "enum": self.allowed_orderings(view)}
        return parameters
