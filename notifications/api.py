"""Notification rules and their deliveries, per project: everyone in the project reads them, owners manage
rules, members resend deliveries."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Project, Role, has_role
from flowsite.api_defaults import Conflict, CursorPagination, ErrorDetailSerializer, error_response

from .dispatch import start_delivery_loop
from .models import MAX_RECIPIENTS, MAX_URL_CHARS, Channel, Delivery, DeliveryStatus, Event, NotificationRule

SECRET_FIELDS = {Channel.WEBHOOK: "signing_secret", Channel.SLACK: "slack_url"}


class RuleSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices), min_length=1, max_length=len(Event.values)
    )
    running_minutes = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text="With the running_long event: minutes of running after which the run is reported, once.",
    )  # fmt: skip
    url = serializers.CharField(
        max_length=MAX_URL_CHARS, required=False, allow_blank=True,
        help_text="Webhook channel: the http(s) URL the signed JSON is POSTed to.",
    )  # fmt: skip
    recipients = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=MAX_RECIPIENTS, help_text="Email channel: addresses."
    )
    signing_secret = serializers.CharField(
        write_only=True, required=False, trim_whitespace=True,
        help_text="Webhook channel, write-only: the Standard Webhooks secret, whsec_ and the base64 of 24 to 64 "
        "random bytes. Receivers verify the webhook-signature header with it.",
    )  # fmt: skip
    slack_url = serializers.CharField(
        write_only=True, required=False, max_length=MAX_URL_CHARS,
        help_text="Slack channel, write-only: the incoming webhook's URL (it is the credential, so never shown back).",
    )  # fmt: skip
    secrets_set = serializers.SerializerMethodField(help_text="Which secrets are set; never their values.")

    class Meta:
        model = NotificationRule
        fields = [
            "id", "name", "events", "running_minutes", "channel", "url", "recipients", "signing_secret", "slack_url",
            "secrets_set", "enabled", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_secrets_set(self, rule: NotificationRule) -> list[str]:
        return rule.secret_names()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        rule = NotificationRule(project=self.context["project"])
        if self.instance is not None:
            for field in ("name", "events", "running_minutes", "channel", "url", "recipients", "enabled"):
                setattr(rule, field, getattr(self.instance, field))
            rule.secrets = dict(self.instance.secrets)
        secrets = {name: attrs.pop(name) for name in ("signing_secret", "slack_url") if name in attrs}
        for field, value in attrs.items():
            setattr(rule, field, value)
        rule.secrets.update(secrets)
        # A rule keeps only the secret its channel uses: one moved from Slack to email forgets the URL.
        keep = SECRET_FIELDS.get(Channel(rule.channel)) if rule.channel in Channel.values else None
        rule.secrets = {name: value for name, value in rule.secrets.items() if name == keep and value}
        problems = rule.problems()
        if problems:
            raise serializers.ValidationError(problems)
        attrs["secrets"] = rule.secrets
        return attrs


class DeliveryConflictDetailSerializer(ErrorDetailSerializer):
    delivery_status = serializers.ChoiceField(choices=DeliveryStatus.choices, help_text="The delivery's status.")


class DeliveryConflictSerializer(serializers.Serializer):
    """The standard error with the delivery's status: a resend of a delivery that already waits (a 409)."""

    error = DeliveryConflictDetailSerializer()


class DeliverySerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    channel = serializers.CharField(source="rule.channel", read_only=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)
    event = serializers.ChoiceField(choices=Event.choices, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "rule", "rule_name", "channel", "run", "event", "status", "attempts", "response_code",
            "response_excerpt", "error", "message_id", "payload", "created_at", "queued_at", "last_attempt_at",
            "next_attempt_at", "delivered_at",
        ]  # fmt: skip
        read_only_fields = fields


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices, help_text="Repeat for several.")
    event = django_filters.MultipleChoiceFilter(choices=Event.choices, help_text="Repeat for several.")
    run = django_filters.NumberFilter(field_name="run_id", help_text="Run id.")
    rule = django_filters.NumberFilter(field_name="rule_id", help_text="Rule id.")

    class Meta:
        model = Delivery
        fields = ["status", "event", "run", "rule"]


PROJECT_SLUG = OpenApiParameter("project_slug", str, OpenApiParameter.PATH, description="The project's slug.")


class InProject:
    """A project's sub-resource: a project you are not in is a 404; `write_role` is needed to change things."""

    write_role = Role.OWNER
    kwargs: dict[str, Any]
    request: Request

    def project(self) -> Project:
        if not hasattr(self, "_project"):
            project = get_object_or_404(Project, slug=self.kwargs["project_slug"])
            if not has_role(project, self.request.user, Role.VIEWER):
                raise exceptions.NotFound()
            self._project = project
        return self._project

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)  # type: ignore[misc]
        if request.method not in permissions.SAFE_METHODS and not has_role(
            self.project(), request.user, self.write_role
        ):
            raise exceptions.PermissionDenied(f"this takes the {self.write_role} role in the project")


@extend_schema_view(
    list=extend_schema(
        parameters=[PROJECT_SLUG],
        summary="List a project's notification rules",
        description="On which run events to tell which channel; every member of the project may read them.",
    ),
    create=extend_schema(
        parameters=[PROJECT_SLUG],
        summary="Create a notification rule",
        description="Owners only. Secrets (a webhook's signing secret, a Slack URL) are write-only and encrypted at rest.",
    ),
    retrieve=extend_schema(
        parameters=[PROJECT_SLUG], summary="Get a notification rule", description="One rule, never its secrets."
    ),
    update=extend_schema(
        parameters=[PROJECT_SLUG],
        summary="Replace a notification rule",
        description="Owners only; a secret left out is kept.",
    ),
    partial_update=extend_schema(
        parameters=[PROJECT_SLUG],
        summary="Change a notification rule",
        description="Owners only; the fields and secrets left out are kept.",
    ),
    destroy=extend_schema(
        parameters=[PROJECT_SLUG],
        summary="Delete a notification rule",
        description="Owners only; its deliveries go with it.",
    ),
)
class RuleViewSet(InProject, viewsets.ModelViewSet):
    """A project's notification rules: on which run events to tell which channel. Owners manage them; secrets
    (a webhook's signing secret, a Slack URL) are write-only and encrypted at rest."""

    api_resource = "notification_rule"
    serializer_class = RuleSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[NotificationRule]:
        if getattr(self, "swagger_fake_view", False):
            return NotificationRule.objects.none()
        return NotificationRule.objects.filter(project=self.project()).order_by("name", "id")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["project"] = self.project()
        return context

    def perform_create(self, serializer: Any) -> None:
        serializer.save(project=self.project(), created_by=self.request.user)


@extend_schema_view(
    list=extend_schema(
        parameters=[PROJECT_SLUG],
        summary="List a project's deliveries",
        description="Each notification sent, or being sent, for the project's runs, newest first, with its attempts "
        "and the receiver's last answer.",
    ),
    retrieve=extend_schema(
        parameters=[PROJECT_SLUG], summary="Get a delivery", description="One delivery with its attempts and answer."
    ),
    resend=extend_schema(summary="Resend a delivery"),
)
class DeliveryViewSet(InProject, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Each notification sent (or being sent) for a project's runs, newest first, with its attempts and the
    receiver's last answer. Members resend one."""

    api_resource = ("delivery", "deliveries")
    serializer_class = DeliverySerializer
    pagination_class = CursorPagination
    filterset_class = DeliveryFilter
    write_role = Role.MEMBER

    def get_queryset(self) -> QuerySet[Delivery]:
        if getattr(self, "swagger_fake_view", False):
            return Delivery.objects.none()
        return Delivery.objects.filter(project=self.project()).select_related("rule")

    @extend_schema(
        request=None,
        responses={
            202: DeliverySerializer,
            409: error_response("The delivery is already waiting for its first attempt.", DeliveryConflictSerializer),
        },
        parameters=[PROJECT_SLUG],
        filters=False,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resend(self, request: Request, project_slug: str, pk: str) -> Response:
        """Send it again from a first attempt, whatever became of it; 409 if it already waits for its first."""
        delivery = self.get_object()
        if not delivery.resend():
            raise Conflict(f"delivery {delivery.pk} is already waiting to be sent", delivery_status=delivery.status)
        transaction.on_commit(start_delivery_loop, robust=True)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
