"""What every API endpoint shares: error bodies and pagination."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from drf_spectacular import openapi
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
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    fields = serializers.DictField(child=serializers.CharField(), help_text="Each bad input and why.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class AutoSchema(openapi.AutoSchema):
    """Every operation documents the error body it can answer with, not only its success."""

    ERROR_CODES = {
        "400": "Bad input: `fields` names each field and the reason.",
        "401": "Not signed in, or the token is invalid.",
        "403": "Signed in, but your role does not allow this.",
        "404": "No such object, or not one you can see.",
    }

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = dict(self.ERROR_CODES)
        if self.method != "GET":
            codes["409"] = "The object's state does not allow this (a finished run, a project's last owner)."
        for code, description in codes.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code] = {**response, "description": description}
        return responses


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
