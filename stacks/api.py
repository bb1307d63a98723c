from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.db.models.deletion import ProtectedError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Project
from flowsite.api_defaults import Conflict, error_response

from .models import Stack, can_see_all_stacks, too_short_to_mask
from .registry import KINDS, ConfigError, parse_config


class StackSerializer(serializers.ModelSerializer):
    secrets = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        write_only=True,
        required=False,
        help_text="Write-only: names to values. Replaces all secrets when given.",
    )
    secrets_set = serializers.SerializerMethodField(help_text="Names of the secrets that are set; never their values.")
    projects = serializers.SlugRelatedField(
        slug_field="slug",
        many=True,
        required=False,
        queryset=Project.objects.all(),
        help_text="Slugs of the projects granted this stack (of those you belong to, unless you manage stacks). "
        "Replaces the grants when given.",
    )

    class Meta:
        model = Stack
        fields = [
            "id", "name", "kind", "description", "config", "secrets", "secrets_set", "is_default",
            "projects", "open_to_all_projects", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "updated_at"]
        # One default at a time is kept by Stack.save(), which hands the flag over; not refused here.
        extra_kwargs = {"is_default": {"validators": []}}

    def get_secrets_set(self, stack: Stack) -> list[str]:
        return stack.secret_names()

    def validate_secrets(self, secrets: dict[str, str]) -> dict[str, str]:
        if problem := too_short_to_mask(secrets):
            raise serializers.ValidationError(problem)
        return secrets

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        config = attrs.get("config", getattr(self.instance, "config", {}))
        if kind not in KINDS:
            raise serializers.ValidationError({"kind": f"unknown stack kind {kind!r}; known kinds: {', '.join(KINDS)}"})
        try:
            attrs["config"] = parse_config(kind, config).model_dump(exclude_unset=True)
        except ConfigError as exc:
            raise serializers.ValidationError(
                {f"config.{field}": reason for field, reason in exc.errors.items()}
            ) from None
        return attrs


class StackValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    problem = serializers.CharField(allow_blank=True, help_text="Empty when valid.")


class StackPermissions(permissions.DjangoModelPermissions):
    """The admin's rule in the API: changing stacks takes staff status and the matching model permission
    (stacks.add_stack, change_stack, delete_stack), so both doors let in the same people."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        needed = self.get_required_permissions(request.method, Stack)
        self.message = f"managing stacks takes staff status and the permission {', '.join(needed)}"
        return bool(request.user.is_staff and super().has_permission(request, view))


class MaySeeAllStacks(permissions.BasePermission):
    message = "checking stacks takes staff status and the permission to view or change stacks"

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_see_all_stacks(request.user)


PROJECT_FILTER = OpenApiParameter(
    "project", str, description="Only the stacks this project may run on (a project you belong to).", required=False
)


@extend_schema_view(
    list=extend_schema(
        summary="List stacks",
        description="The stacks your projects may run on (never their secrets); staff who manage stacks see all.",
        parameters=[PROJECT_FILTER],
    ),
    retrieve=extend_schema(
        summary="Get a stack", description="One stack: its kind, config and the projects granted it."
    ),
    create=extend_schema(
        summary="Create a stack",
        description="Staff with the permission to add stacks: the config is checked against its kind's schema.",
    ),
    update=extend_schema(summary="Replace a stack", description="Staff with the permission to change stacks."),
    partial_update=extend_schema(
        summary="Change some of a stack's fields",
        description="Staff with the permission to change stacks; fields left out keep their values.",
    ),
    destroy=extend_schema(
        summary="Delete a stack",
        description="Only a stack no run used: history keeps where each run ran.",
        responses={204: None, 409: error_response("The stack has runs: it cannot be deleted.")},
    ),
)
class StackViewSet(viewsets.ModelViewSet):
    """Where runs execute. You see the stacks your projects may run on (never their secrets); staff with
    the stacks permissions see and manage all of them, and grant them to projects."""

    api_resource = "stack"

    serializer_class = StackSerializer
    permission_classes = [permissions.IsAuthenticated, StackPermissions]
    pagination_class = None

    def get_queryset(self) -> QuerySet[Stack]:
        if getattr(self, "swagger_fake_view", False):
            return Stack.objects.none()
        user = self.request.user
        stacks = Stack.objects.visible_to(user)
        # Readers who do not manage stacks see only the grants to their own projects.
        projects = Project.objects.all() if can_see_all_stacks(user) else Project.objects.filter(memberships__user=user)
        stacks = stacks.prefetch_related(Prefetch("projects", queryset=projects.only("pk", "slug")))
        slug = self.request.query_params.get("project") if self.action == "list" else None
        if slug is not None:
            project = projects.filter(slug=slug).first()
            if project is None:
                raise exceptions.ValidationError({"project": f"no project {slug!r} that you belong to"})
            stacks = stacks.granted_to(project)
        return stacks

    def perform_destroy(self, instance: Stack) -> None:
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(f"stack {instance.name!r} has runs; it cannot be deleted") from None

    @extend_schema(summary="Check a stack", request=None, responses={200: StackValidationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated, MaySeeAllStacks])
    def validate(self, request: Request, pk: str) -> Response:
        """Whether runs can go to this stack now, and if not, why."""
        problem = self.get_object().validation_problem()
        return Response({"valid": not problem, "problem": problem})
