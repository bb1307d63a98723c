from __future__ import annotations

from typing import Any

from django.db.models.deletion import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from flowsite.api_defaults import Conflict

from .models import Stack
from .registry import KINDS, ConfigError, parse_config


class StackSerializer(serializers.ModelSerializer):
    secrets = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        write_only=True,
        required=False,
        help_text="Write-only: names to values. Replaces all secrets when given.",
    )
    secrets_set = serializers.SerializerMethodField(help_text="Names of the secrets that are set; never their values.")

    class Meta:
        model = Stack
        fields = ["id", "name", "kind", "description", "config", "secrets", "secrets_set", "is_default", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        # One default at a time is kept by Stack.save(), which hands the flag over; not refused here.
        extra_kwargs = {"is_default": {"validators": []}}

    def get_secrets_set(self, stack: Stack) -> list[str]:
        return stack.secret_names()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        config = attrs.get("config", getattr(self.instance, "config", {}))
        if kind not in KINDS:
            raise serializers.ValidationError({"kind": f"unknown stack kind {kind!r}; known kinds: {', '.join(KINDS)}"})
        try:
            attrs["config"] = parse_config(kind, config).model_dump(exclude_unset=True)
        except ConfigError as exc:
            raise serializers.ValidationError({f"config.{field}": reason for field, reason in exc.errors.items()}) from None
        return attrs


class StackValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    problem = serializers.CharField(allow_blank=True, help_text="Empty when valid.")


class IsStaffOrReadOnly(permissions.BasePermission):
    message = "only staff manage stacks"

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_staff)


class StackViewSet(viewsets.ModelViewSet):
    """Where runs execute. Everyone signed in sees them (never their secrets); staff manage them."""

    queryset = Stack.objects.all()
    serializer_class = StackSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    pagination_class = None

    def perform_destroy(self, instance: Stack) -> None:
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(f"stack {instance.name!r} has runs; it cannot be deleted") from None

    @extend_schema(request=None, responses={200: StackValidationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def validate(self, request: Request, pk: str) -> Response:
        """Whether runs can go to this stack now, and if not, why."""
        problem = self.get_object().validation_problem()
        return Response({"valid": not problem, "problem": problem})
