"""/api/schedules/: schedules of the projects you belong to. Viewers read; members create, edit, pause and delete."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Project, Role, has_role
from flowsite.api_defaults import Refused
from runs.api.permissions import ProjectRole
from runs.triggering import StackNotGranted, TriggerError, check_request

from . import cron
from .models import CatchUp, Overlap, Schedule, ScheduleFire

RECENT_FIRES = 50


class ScheduleSerializer(serializers.ModelSerializer):
    project = serializers.SlugField(help_text="The project's slug; a schedule stays in the project it was made in.")
    pipeline = serializers.CharField(max_length=200, help_text="Each fire runs the pipeline's latest code version.")
    stack = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="A stack granted to the project; the default if empty.",
    )
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="Run parameters, checked as a trigger checks them; defaults fill the rest.",
    )
    cron = serializers.CharField(
        max_length=cron.MAX_CRON_CHARS,
        help_text="minute hour day-of-month month day-of-week, and optionally seconds as a sixth field "
        "(`* * * * * */10`: every ten seconds).",
    )
    timezone = serializers.CharField(
        max_length=64, required=False, default="UTC", help_text="An IANA time zone the cron expression is read in."
    )
    overlap = serializers.ChoiceField(
        choices=Overlap.choices, required=False, default=Overlap.SKIP,
        help_text="While the schedule's previous run is active: skip the fire, or queue it until that run ends.",
    )  # fmt: skip
    catch_up = serializers.ChoiceField(
        choices=CatchUp.choices, required=False, default=CatchUp.SKIP,
        help_text="Fire times missed while no scheduler ran: skip them, or run once for them all.",
    )  # fmt: skip
    next_fire_times = serializers.SerializerMethodField(
        help_text="The next five fire times, in ISO 8601 with the schedule's offset; empty while paused."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Schedule
        fields = [
            "id", "project", "pipeline", "stack", "params", "cron", "timezone", "paused", "overlap", "catch_up",
            "next_fire_at", "next_fire_times", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "next_fire_at", "next_fire_times", "created_by", "created_at"]

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "date-time"}})
    def get_next_fire_times(self, schedule: Schedule) -> list[str]:
        return [at.isoformat() for at in schedule.next_fire_times()]

    def to_representation(self, schedule: Schedule) -> dict[str, Any]:
        data = super().to_representation(schedule)
        data["project"] = schedule.project.slug
        data["stack"] = schedule.stack.name
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The whole schedule as it would be, checked as a trigger checks a run, then its cron and zone."""
        project: Project = self.context["project"]
        current = self.instance
        if current is not None and "project" in attrs and attrs["project"] != project.slug:
            raise exceptions.ValidationError({"project": "a schedule stays in its project; make a new one there"})
        attrs["project"] = project

        def value(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(current, name)

        stack = attrs.get("stack", current.stack if current is not None else None)
        try:
            _, stack_row, _ = check_request(project, value("pipeline"), stack or None, value("params"))
        except StackNotGranted as exc:
            raise Refused(exc.errors["stack"], exc.errors) from None
        except TriggerError as exc:
            raise exceptions.ValidationError(exc.errors) from None
        attrs["stack"] = stack_row
        try:
            cron.next_after(value("cron"), value("timezone"), timezone.now())
        except cron.CronError as exc:
            raise exceptions.ValidationError({exc.field: str(exc)}) from None
        attrs["cron"] = " ".join(value("cron").split())
        return attrs

    def update(self, schedule: Schedule, validated_data: dict[str, Any]) -> Schedule:
        # Only what was given: a save of every field would write back the due time read before a
        # scheduler moved it on.
        for name, value in validated_data.items():
            setattr(schedule, name, value)
        schedule.save(update_fields=list(validated_data))
        return schedule

    def save(self, **kwargs: Any) -> Schedule:
        # A changed time or a resumed schedule plans anew; other edits keep the due time a scheduler may be firing.
        replan = self.instance is None or any(
            name in self.validated_data and self.validated_data[name] != getattr(self.instance, name)
            for name in ("cron", "timezone", "paused")
        )
        schedule = super().save(**kwargs)
        if replan:
            schedule.plan()
            Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=schedule.next_fire_at)
        return schedule


class ScheduleFireSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True, help_text="The run it started.")
    lateness_seconds = serializers.SerializerMethodField(help_text="How long after its fire time a scheduler acted.")

    class Meta:
        model = ScheduleFire
        fields = ["fire_at", "fired_at", "lateness_seconds", "fired_by", "outcome", "run", "note"]
        read_only_fields = fields

    def get_lateness_seconds(self, fire: ScheduleFire) -> float:
        return (fire.fired_at - fire.fire_at).total_seconds()


class ScheduleFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    pipeline = django_filters.CharFilter(help_text="Pipeline name.")
    paused = django_filters.BooleanFilter()

    class Meta:
        model = Schedule
        fields = ["project", "pipeline", "paused"]


@extend_schema_view(
    list=extend_schema(
        summary="List schedules",
        description="The schedules of the projects you belong to, each with its next five fire times.",
    ),
    retrieve=extend_schema(summary="Get a schedule", description="One schedule of a project you belong to."),
    create=extend_schema(
        summary="Create a schedule",
        description="Members and owners. Pipeline, stack and parameters are checked as a trigger checks them; "
        "a stack not granted to the project is a 403.",
    ),
    update=extend_schema(summary="Replace a schedule", description="Members and owners; the project never changes."),
    partial_update=extend_schema(
        summary="Change a schedule", description="Members and owners; fields left out keep their values."
    ),
    destroy=extend_schema(summary="Delete a schedule", description="Members and owners; runs it started are kept."),
    pause=extend_schema(summary="Pause a schedule"),
    resume=extend_schema(summary="Resume a schedule"),
    fires=extend_schema(operation_id="list_schedule_fires", summary="List a schedule's recent fires"),
)
class ScheduleViewSet(viewsets.ModelViewSet):
    """Schedules of the projects you belong to, with their next fire times; pause, resume and recent fires."""

    api_resource = "schedule"
    serializer_class = ScheduleSerializer
    permission_classes = [permissions.IsAuthenticated, ProjectRole]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ScheduleFilter
    pagination_class = None
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Schedule]:
        if getattr(self, "swagger_fake_view", False):
            return Schedule.objects.none()
        return Schedule.objects.visible_to(self.request.user).select_related("project", "stack", "created_by")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if self.action in ("update", "partial_update"):
            context["project"] = self.get_object().project
        return context

    def create(self, request: Request) -> Response:
        slug = request.data.get("project") if isinstance(request.data, dict) else None
        if not isinstance(slug, str) or not slug:
            raise exceptions.ValidationError({"project": "this field is required: the project's slug"})
        project = Project.objects.filter(slug=slug[:64]).first()
        if project is None or not has_role(project, request.user, Role.VIEWER):
            raise exceptions.ValidationError({"project": f"no project {slug[:64]!r} that you belong to"})
        if not has_role(project, request.user, Role.MEMBER):
            raise exceptions.PermissionDenied(
                "viewers cannot create schedules; ask a project owner for the member role"
            )
        serializer = ScheduleSerializer(
            data=request.data, context={**self.get_serializer_context(), "project": project}
        )
        serializer.is_valid(raise_exception=True)
        schedule = serializer.save(created_by=request.user)
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ScheduleSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Stop firing; runs already started go on. Pausing a paused schedule changes nothing."""
        schedule = self.get_object()
        schedule.pause()
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(request=None, responses={200: ScheduleSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Fire again from the next fire time after now: times that passed while paused are not run."""
        schedule = self.get_object()
        schedule.resume()
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(responses=ScheduleFireSerializer(many=True), filters=False)
    @action(detail=True, filter_backends=[])
    def fires(self, request: Request, pk: str) -> Response:
        """The most recent fire times and what became of each, newest first."""
        fires = self.get_object().fires.all()[:RECENT_FIRES]
        return Response(ScheduleFireSerializer(fires, many=True).data)
