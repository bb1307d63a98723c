from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ApiToken, Membership, Project, Role


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]
        extra_kwargs = {"expires_at": {"help_text": "When the token stops working; none: until revoked."}}

    def validate_expires_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


class IssuedTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once: store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


@extend_schema_view(
    list=extend_schema(
        summary="List your tokens", description="Your personal API tokens, revoked ones too; never their keys."
    ),
    retrieve=extend_schema(summary="Get a token", description="One of your tokens: when it was used, when it expires."),
)
class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your personal API tokens. Create one to get its key (shown once); delete one to revoke it."""

    api_resource = "token"

    serializer_class = ApiTokenSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(
        summary="Create a token",
        description="Returns the new key once: store it. Only a signed-in session creates tokens, never a token.",
        request=ApiTokenSerializer,
        responses={201: IssuedTokenSerializer},
    )
    def create(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            # A token that could mint tokens would outlive its own revocation through them.
            raise exceptions.PermissionDenied(
                "a token cannot create tokens: sign in to the portal, or use manage.py create_token"
            )
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, key = ApiToken.issue(request.user, data["name"], expires_at=data.get("expires_at"))
        token.key = key  # type: ignore[attr-defined]
        return Response(IssuedTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="revoke_token",
        summary="Revoke a token",
        description="The token stops working at once; it stays listed, with when it was revoked.",
        responses={204: None},
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        self.get_object().revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyProjectSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in it.")


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    manages_stacks = serializers.BooleanField(
        help_text="Staff with the permission to view or change stacks: they see every stack, check it, and open "
        "its page in the admin."
    )
    projects = MyProjectSerializer(many=True, help_text="The projects you belong to, with your role in each.")


class MeView(APIView):
    """Who you are: your name, whether you are staff, and your projects with your role in each."""

    api_resource = "me"

    @extend_schema(
        summary="Who you are",
        description="Your username, whether you are staff, and your projects with your role in each.",
        responses=MeSerializer,
    )
    def get(self, request: Request) -> Response:
        from stacks.models import can_see_all_stacks

        user = request.user
        if user.is_superuser:
            projects = [{"slug": p.slug, "name": p.name, "role": Role.OWNER} for p in Project.objects.order_by("slug")]
        else:
            memberships = Membership.objects.filter(user=user).select_related("project").order_by("project__slug")
            projects = [{"slug": m.project.slug, "name": m.project.name, "role": m.role} for m in memberships]
        data = {
            "username": user.get_username(),
            "is_staff": user.is_staff,
            "manages_stacks": can_see_all_stacks(user),
            "projects": projects,
        }
        return Response(MeSerializer(data).data)
