from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, negotiation, permissions, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Membership, Project, Role, has_role  # fmt: skip
from flowsite.api_defaults import (
    Conflict,
    CursorPagination,
    Refused,
    StrictOrderingFilter,
    Unprocessable,
    error_response,
)  # fmt: skip
from flowsite.engine.metrics import MetricError, checked_metric

from .. import comparison
from ..logexport import FORMATS, last_seq, stream_log
from ..models import FINAL_RUN_STATES, Artifact, LogLine, Metric, PipelineDef, Run, RunStateError, StepRun
from ..recording import path_of
from ..remote_artifacts import StackArtifacts, is_remote
from ..triggering import CodeUnavailable, IdempotencyConflict, StackNotGranted, TriggerError, trigger_or_replay
from . import serializers as s
from .conditional import page_tag, tag_rows, unchanged, with_last_event
from .filters import RunFilter
from .permissions import ProjectRole, StaffCreatesProjects
from .throttling import count_failed_lookup, refuse_if_guessing

MAX_LOG_LINES = 10_000
IDEMPOTENCY_KEY_CHARS = 200
LOG_FILE = "The log file: text, one line per log line; or NDJSON, one object of the schema shown per line."
NEXT_AFTER = OpenApiParameter(
    "X-Next-After",
    int,
    OpenApiParameter.HEADER,
    response=[200],
    required=True,
    description="The sequence number of the last line sent: pass it as ?after= to get the lines that follow.",
)


# The filter's statuses as the one run status enum, not an enum of its own per operation: a generated client
# passes RunStatusEnum values it already has.
STATUS_FILTER = OpenApiParameter(
    "status",
    {"type": "array", "items": {"$ref": "#/components/schemas/RunStatusEnum"}},
    explode=True,
    description="Only runs in these statuses: repeat for several.",
)
LOG_PAGE_PARAMETERS = [
    OpenApiParameter(
        "after", {"type": "integer", "minimum": 0}, description="Only lines after this sequence number (default 0)."
    ),
    OpenApiParameter("step", str, description="Only this step's lines."),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES},
        description="At most this many lines (default 1000).",
    ),
]
LOG_COMPLETE = OpenApiParameter(
    "X-Log-Complete",
    {"type": "string", "enum": ["true", "false"]},
    OpenApiParameter.HEADER,
    response=[200],
    required=True,
    description="true once the run has ended and every line was returned (`complete`).",
)


@dataclass
class LogPage:
    """One page of a run's log, which tail_run_logs answers as JSON and tail_run_logs_text as text."""

    lines: list[dict[str, Any]]
    next_after: int
    run_status: str
    complete: bool

    def data(self) -> dict[str, Any]:
        return {
            "lines": self.lines, "next_after": self.next_after, "run_status": self.run_status, "complete": self.complete
        }  # fmt: skip

    def as_text(self) -> HttpResponse:
        # Built here: DRF drops the Content-Type of an empty rendered body.
        text = "".join(f"{line['text']}\n" for line in self.lines)
        return self.with_headers(HttpResponse(text, content_type="text/plain; charset=utf-8"))

    def with_headers(self, response: HttpResponse) -> HttpResponse:
        # The cursor travels in headers too, so that plain-text tailing is not a dead end.
        response["X-Next-After"] = str(self.next_after)
        response["X-Log-Complete"] = "true" if self.complete else "false"
        return response


MAX_LISTED_METRICS = 10
MAX_METRIC_POINTS = 10_000
METRICS_PARAM = OpenApiParameter(
    "metrics",
    str,
    description=f"Comma-separated metric names (at most {MAX_LISTED_METRICS}): each run's `metrics` then holds its "
    "last value of each (null where it recorded none).",
)


def chosen_metrics(request: Request) -> list[str] | None:
    """The metric names ?metrics= asks a runs list to show, checked as log_metric checks them."""
    raw = request.query_params.get("metrics", "")
    names = list(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    if len(names) > MAX_LISTED_METRICS:
        raise exceptions.ValidationError({"metrics": f"at most {MAX_LISTED_METRICS} metric names"})
    for name in names:
        try:
            checked_metric(name, 0.0)
        except MetricError as exc:
            raise exceptions.ValidationError({"metrics": str(exc)}) from None
    return names or None


# A run shown alone or acted on comes with its related rows whole: cancel and retry read its stack and pipeline.
WHOLE = ("project", "pipeline", "stack", "triggered_by", "cancelled_by")


def _roles(user: Any) -> dict[int, str]:
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


@extend_schema_view(
    list=extend_schema(summary="List your projects", description="The projects you belong to, with your role in each."),
    retrieve=extend_schema(summary="Get a project", description="One project you belong to, with your role."),
    create=extend_schema(
        summary="Create a project", description="Staff only; the creator becomes its owner. A taken slug is a 400."
    ),
    update=extend_schema(
        summary="Replace a project's name and description", description="Owners only; the slug never changes."
    ),
    partial_update=extend_schema(
        summary="Change a project's name or description", description="Owners only; fields left out keep their values."
    ),
)
class ProjectViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Projects you belong to. Staff create them (and own what they create); owners edit them."""

    api_resource = "project"
    lookup_field = "slug"
    permission_classes = [permissions.IsAuthenticated, StaffCreatesProjects, ProjectRole]
    write_role = Role.OWNER
    pagination_class = None

    def get_queryset(self) -> QuerySet[Project]:
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        user = self.request.user
        projects = Project.objects.all()
        return projects if user.is_superuser else projects.filter(memberships__user=user)

    def get_serializer_class(self) -> type:
        return s.ProjectUpdateSerializer if self.action in ("update", "partial_update") else s.ProjectSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": _roles(self.request.user)}

    def perform_create(self, serializer: Any) -> None:
        try:
            with transaction.atomic():
                project = serializer.save()
                Membership.objects.create(project=project, user=self.request.user, role=Role.OWNER)
        except IntegrityError:
            raise exceptions.ValidationError({"slug": "a project with this slug exists already"}) from None
        serializer.context["roles"][project.pk] = Role.OWNER


@extend_schema_view(
    list=extend_schema(
        summary="List a project's members", description="Everyone in the project sees its members and their roles."
    )
)
class MemberViewSet(viewsets.ViewSet):
    """A project's members and their roles. Everyone in the project sees them; owners change them."""

    api_resource = "project_member"
    lookup_field = "username"
    lookup_value_regex = "[^/]+"
    serializer_class = s.MembershipSerializer

    def _project(self, write: bool) -> Project:
        project = get_object_or_404(Project, slug=self.kwargs["project_slug"])
        if not has_role(project, self.request.user, Role.VIEWER):
            raise exceptions.NotFound()
        if write and not has_role(project, self.request.user, Role.OWNER):
            raise exceptions.PermissionDenied("only the project's owners manage its members")
        return project

    def list(self, request: Request, project_slug: str) -> Response:
        members = Membership.objects.filter(project=self._project(write=False)).select_related("user")
        return Response(s.MembershipSerializer(members.order_by("user__username"), many=True).data)

    @extend_schema(
        operation_id="add_project_member",
        summary="Add a member to a project",
        request=s.NewMemberSerializer,
        responses={
            201: s.MembershipSerializer,
            429: error_response("Too many usernames that matched no active user."),
        },
        description=(
            "Adds an active user by username. A name that matches no user and one of a deactivated user get "
            "the same 400; after too many such names the owner waits (429)."
        ),
    )
    def create(self, request: Request, project_slug: str) -> Response:
        project = self._project(write=True)
        serializer = s.NewMemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refuse_if_guessing(request.user)
        user = get_user_model().objects.filter(username=serializer.validated_data["username"], is_active=True).first()
        if user is None:
            count_failed_lookup(request.user)
            raise exceptions.ValidationError({"username": s.NO_ACTIVE_USER})
        membership, created = Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": serializer.validated_data["role"]}
        )
        if not created:
            raise exceptions.ValidationError({"username": f"{user.username} is a member already"})
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="set_project_member_role",
        summary="Change a member's role",
        description="Owners only. The last owner cannot be made anything else (409).",
        request=s.MembershipRoleSerializer,
        responses={200: s.MembershipSerializer, 409: error_response("A project must keep at least one owner.")},
    )
    def partial_update(self, request: Request, project_slug: str, username: str) -> Response:
        project = self._project(write=True)
        membership = get_object_or_404(Membership, project=project, user__username=username)
        serializer = s.MembershipRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data["role"]
        if membership.role == Role.OWNER and role != Role.OWNER:
            self._keep_an_owner(project)
        membership.role = role
        membership.save(update_fields=["role"])
        return Response(s.MembershipSerializer(membership).data)

    @extend_schema(
        operation_id="remove_project_member",
        summary="Remove a member from a project",
        description="Owners only. The last owner cannot be removed (409).",
        responses={204: None, 409: error_response("A project must keep at least one owner.")},
    )
    def destroy(self, request: Request, project_slug: str, username: str) -> Response:
        project = self._project(write=True)
        membership = get_object_or_404(Membership, project=project, user__username=username)
        if membership.role == Role.OWNER:
            self._keep_an_owner(project)
        membership.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _keep_an_owner(project: Project) -> None:
        if Membership.objects.filter(project=project, role=Role.OWNER).count() <= 1:
            raise Conflict("a project must keep at least one owner")


@extend_schema_view(
    list=extend_schema(
        summary="List pipelines",
        description="Every registered pipeline at its latest code version, with its graph and parameters.",
    ),
    retrieve=extend_schema(
        summary="Get a pipeline",
        description="A pipeline at its latest code version: its graph, the parameters a trigger may set, and the "
        "stacks it cannot run on now.",
    ),
)
class PipelineViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered pipelines, each at its latest code version, with DAG and parameter schema."""

    api_resource = "pipeline"

    @extend_schema(
        operation_id="chart_pipeline_metrics",
        summary="Chart a pipeline's metrics across runs",
        responses=s.MetricSeriesSerializer,
        filters=False,
        description="Each metric across the pipeline's latest runs (of projects you belong to), for a chart.",
        parameters=[
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": comparison.MAX_CHARTED_RUNS},
                description="How many of the latest runs to read (default 200); those without metrics are left out.",
            ),
            OpenApiParameter("project", str, description="Only this project's runs (its slug)."),
        ],
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def metrics(self, request: Request, name: str) -> Response:
        versions = list(PipelineDef.objects.filter(name=name).values_list("pk", flat=True))
        if not versions:
            raise exceptions.NotFound(f"no pipeline named {name[:200]!r}")
        limit = _int_param(request, "limit", 200, minimum=1, maximum=comparison.MAX_CHARTED_RUNS)
        # By ids, not joins: SQLite then walks the (pipeline, created_at) index instead of all runs by date
        # (30 ms instead of 190 ms at 100,000 runs).
        runs = Run.objects.filter(pipeline_id__in=versions)
        projects = s.readable_projects(request.user)
        if projects is not None:
            runs = runs.filter(project_id__in=projects)
        if request.query_params.get("project"):
            chosen = Project.objects.filter(slug=request.query_params["project"]).values_list("pk", flat=True)
            runs = runs.filter(project_id__in=list(chosen))
        latest = list(runs.order_by("-created_at", "-id").values_list("pk", "created_at", "status")[:limit])
        # Written out as MetricSeriesSerializer describes it: DRF's work per value was a third of the answer's time.
        series = comparison.metric_series(latest)
        for run in series["runs"]:
            run["created_at"] = s.when_text(run["created_at"])
        return Response(series)

    serializer_class = s.PipelineSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    pagination_class = None

    def get_queryset(self) -> QuerySet[PipelineDef]:
        latest = PipelineDef.objects.filter(name=OuterRef("name")).order_by("-created_at", "-id").values("pk")[:1]
        return PipelineDef.objects.filter(pk=Subquery(latest)).order_by("name")


@extend_schema_view(
    list=extend_schema(
        summary="List a pipeline's runs",
        description="The pipeline's runs in the projects you belong to, newest first, with the filters of list_runs. "
        "A pipeline never registered is a 404.",
        parameters=[STATUS_FILTER, METRICS_PARAM],
    )
)
class PipelineRunViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A pipeline's run history (runs of projects you belong to), newest first."""

    api_resource = ("pipeline_run", "pipeline_runs")
    serializer_class = s.RunSerializer
    pagination_class = CursorPagination
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = RunFilter
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Run]:
        if getattr(self, "swagger_fake_view", False):
            return Run.objects.none()
        name = self.kwargs["pipeline_name"]
        versions = list(PipelineDef.objects.filter(name=name).values_list("pk", flat=True))
        # Pipelines are listed to everyone signed in, so naming an unknown one reveals nothing.
        if not versions:
            raise exceptions.NotFound(f"no pipeline named {name[:200]!r}")
        # By ids, not a join: SQLite then walks the (pipeline, created_at) index (see `metrics` above).
        return s.runs_for_listing(Run.objects.visible_to(self.request.user).filter(pipeline_id__in=versions))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "metric_names": chosen_metrics(self.request)}


class PlainTextRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "text"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        # Only errors come through here: the log text itself is sent by the view.
        if isinstance(data, dict) and "error" in data:
            return f"{data['error']['message']}\n".encode()
        return str(data).encode()


class ErrorsAsJSON(negotiation.DefaultContentNegotiation):
    """For views that write their own body and read `format` themselves: the only rendering left is an error's."""

    def select_renderer(self, request: Any, renderers: list[Any], format_suffix: str | None = None) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


@extend_schema_view(
    list=extend_schema(
        summary="List runs",
        description="Runs of the projects you belong to, newest first, a page at a time: pass `next_cursor` back as "
        "`cursor` for the next page. Filters combine; repeat `status` for several.",
        parameters=[STATUS_FILTER, METRICS_PARAM],
    ),
    retrieve=extend_schema(
        summary="Get a run", description="One run with its steps and the graph of the code it ran: poll it to follow."
    ),
)
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of the projects you belong to: history with filters, trigger, cancel, retry, steps, logs."""

    api_resource = "run"
    permission_classes = [permissions.IsAuthenticated, ProjectRole]
    pagination_class = CursorPagination
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = RunFilter
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Run]:
        runs = Run.objects.visible_to(self.request.user)
        if self.action == "list":
            return s.runs_for_listing(runs)
        if self.action == "retrieve":
            steps = Prefetch("steps", s.steps_for_display(StepRun.objects.all()))
            return runs.select_related(*WHOLE).prefetch_related(steps)
        return runs.select_related(*WHOLE)

    def get_serializer_class(self) -> type:
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if self.action == "retrieve":
            context["readable_projects"] = s.readable_projects(self.request.user)
        if self.action == "list":
            context["metric_names"] = chosen_metrics(self.request)
        return context

    def _respond(self, run: Run, code: int) -> Response:
        run = self.get_queryset().get(pk=run.pk)
        return Response(s.RunSerializer(run, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        operation_id="trigger_run",
        summary="Trigger a run",
        request=s.TriggerSerializer,
        responses={
            201: s.RunSerializer,
            403: error_response("A viewer may not start runs, and a project runs only on the stacks staff granted it."),
            409: error_response(
                "No worker has this version of the pipeline's code (see the pipeline's unavailable_on)."
            ),
            422: error_response(
                "The Idempotency-Key already started a run from a different pipeline, stack or parameters."
            ),
        },
        description=(
            "Records a queued run. While the task broker is unavailable the run is still recorded (201); "
            "its events say why it waits, and it starts once the broker answers."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_CHARS},
                OpenApiParameter.HEADER,
                description=(
                    f"At most {IDEMPOTENCY_KEY_CHARS} characters, one per request within a project. A replay of the "
                    "same request (the same pipeline, stack, parameters once defaults are applied, and cache) returns the "
                    "run the key started; a different request with the key is a 422."
                ),
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                {"type": "string", "enum": ["true"]},
                OpenApiParameter.HEADER,
                response=[201],
                description="Present when the Idempotency-Key replayed an earlier request: the run it started.",
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        serializer = s.TriggerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = Project.objects.filter(slug=data["project"]).first()
        if project is None or not has_role(project, request.user, Role.VIEWER):
            raise exceptions.ValidationError({"project": f"no project {data['project']!r} that you belong to"})
        if not has_role(project, request.user, Role.MEMBER):
            raise exceptions.PermissionDenied("viewers cannot start runs; ask a project owner for the member role")
        key = request.headers.get("Idempotency-Key", "").strip() or None
        if key is not None and len(key) > IDEMPOTENCY_KEY_CHARS:
            raise exceptions.ValidationError({"Idempotency-Key": f"at most {IDEMPOTENCY_KEY_CHARS} characters"})
        if key is not None and "\x00" in key:
            raise exceptions.ValidationError({"Idempotency-Key": "holds a NUL character (\\u0000)"})
        try:
            run, replayed = trigger_or_replay(
                project=project,
                pipeline=data["pipeline"],
                stack=data.get("stack") or None,
                params=data.get("params"),
                user=request.user,
                idempotency_key=key,
                use_cache=data.get("cache", True),
            )
        except StackNotGranted as exc:
            raise Refused(exc.errors["stack"], exc.errors) from None
        except CodeUnavailable as exc:
            raise Conflict(str(exc.errors["pipeline"])) from None
        except TriggerError as exc:
            raise exceptions.ValidationError(exc.errors) from None
        except IdempotencyConflict as exc:
            raise Unprocessable(
                str(exc), "idempotency_key_reused", {"Idempotency-Key": f"already used for run {exc.run.pk}"}
            ) from None
        response = self._respond(run, status.HTTP_201_CREATED)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(
        summary="Cancel a run",
        description="A queued run is cancelled at once; a running one moves to `cancelling` and its steps are "
        "stopped within seconds (202 either way, with the run). A run that has ended is a 409 with its `run_status`.",
        request=None,
        responses={202: s.RunSerializer, 409: error_response("The run has ended already.", s.RunConflictSerializer)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        try:
            run.cancel(by=request.user)
        except RunStateError as exc:
            raise Conflict(str(exc), run_status=exc.run.status) from None
        return self._respond(run, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Retry a run",
        description="Starts a new run of the same pipeline, stack and parameters (201, the new run, whose `retry_of` "
        "names this one); steps that completed come from the cache. Only a run that failed, was cancelled or died "
        "can be retried: otherwise a 409 with its `run_status`.",
        request=None,
        responses={
            201: s.RunSerializer,
            409: error_response(
                "The run has not ended, or its pipeline or stack can no longer run it.", s.RunConflictSerializer
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        try:
            new = run.retry(by=request.user)
        except RunStateError as exc:
            raise Conflict(str(exc), run_status=exc.run.status) from None
        except StackNotGranted as exc:
            raise Refused(f"run {run.pk} cannot be retried: {exc.errors['stack']}", exc.errors) from None
        except TriggerError as exc:
            raise Conflict(f"run {run.pk} cannot be retried: {exc}", run_status=run.status) from None
        return self._respond(new, status.HTTP_201_CREATED)

    def _readable_run(self) -> Run:
        pk = self.kwargs["pk"]
        if not str(pk).isdigit():
            raise exceptions.NotFound()
        return get_object_or_404(Run.objects.visible_to(self.request.user), pk=pk)

    @extend_schema(
        operation_id="compare_runs",
        summary="Compare runs side by side",
        responses=s.ComparisonSerializer,
        filters=False,
        description=(
            f"{comparison.MIN_COMPARED} to {comparison.MAX_COMPARED} runs side by side: parameters, each metric's "
            "last value and step durations, one value per run in the order asked, rows marked where the runs differ."
        ),
        parameters=[
            OpenApiParameter(
                "ids",
                str,
                required=True,
                description=f"Comma-separated run ids, {comparison.MIN_COMPARED} to {comparison.MAX_COMPARED}.",
            )
        ],
    )
    @action(detail=False, pagination_class=None, filter_backends=[])
    def compare(self, request: Request) -> Response:
        ids = _run_ids(request.query_params.get("ids", ""))
        runs = Run.objects.visible_to(request.user).select_related("pipeline").in_bulk(ids)
        missing = [pk for pk in ids if pk not in runs]
        if missing:
            # The same answer for a run that does not exist and one you cannot read.
            raise exceptions.NotFound(f"no run {missing[0]} that you can read")
        return Response(s.ComparisonSerializer(comparison.compare([runs[pk] for pk in ids])).data)

    @extend_schema(
        operation_id="list_run_metrics",
        summary="List a run's metric points",
        responses=s.MetricPointSerializer(many=True),
        filters=False,
        description=f"Every metric point the run recorded, in order (at most {MAX_METRIC_POINTS}).",
        parameters=[OpenApiParameter("name", str, description="Only this metric's points.")],
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def metrics(self, request: Request, pk: str) -> Response:
        points = Metric.objects.filter(run=self._readable_run()).order_by("seq")
        if request.query_params.get("name"):
            points = points.filter(name=request.query_params["name"])
        rows = points.values("seq", "step__name", "name", "value", "step_index", "at")[:MAX_METRIC_POINTS]
        return Response(s.MetricPointSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="list_run_steps",
        summary="List a run's steps",
        description="Each step's status, attempts, timing and output, in the order they run.",
        responses=s.StepRunSerializer(many=True),
        filters=False,
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def steps(self, request: Request, pk: str) -> Response:
        steps = s.steps_for_display(self._readable_run().steps.all())
        context = {"readable_projects": s.readable_projects(request.user)}
        return Response(s.StepRunSerializer(steps, many=True, context=context).data)

    @extend_schema(
        operation_id="list_run_events",
        summary="List a run's events",
        description="Every status change of the run and its steps, oldest first, with why and who.",
        responses=s.RunEventSerializer(many=True),
        filters=False,
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        events = self._readable_run().events.select_related("step", "actor")
        return Response(s.RunEventSerializer(events, many=True).data)

    @extend_schema(
        operation_id="list_run_artifacts",
        summary="List a run's artifacts",
        responses=s.ArtifactSerializer(many=True),
        filters=False,
        description="The run's outputs, and those its cached steps reused from earlier runs (their `run` says which).",
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def artifacts(self, request: Request, pk: str) -> Response:
        run = self._readable_run()
        # Cached steps' outputs are other runs' artifacts: listed here too, where their own run is readable,
        # every output of the step that made them (a step links the artifact of one of its outputs).
        reused = Q()
        sources = Artifact.objects.filter(pk__in=run.steps.exclude(output_artifact=None).values("output_artifact"))
        for source_run, step in sources.exclude(run=run).values_list("run_id", "step").distinct():
            reused |= Q(run_id=source_run, step=step)
        listed = Q(run=run)
        if reused:
            listed |= reused & Q(run__in=Run.objects.visible_to(request.user))
        artifacts = Artifact.objects.filter(listed).order_by("created_at", "id")
        return Response(s.ArtifactSerializer(artifacts.defer("data"), many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="tail_run_logs",
        summary="Tail a run's log",
        description="A page of log lines in order. Pass `next_after` back as `after` to get the lines that follow: "
        "poll with it to tail a live run, until `complete`.",
        responses={(200, "application/json"): s.LogPageSerializer},
        filters=False,
        # `format=text` (and Accept: text/plain) still answer text for older clients: not documented here, where
        # a generated client would expect a LogPage; tail_run_logs_text is text's operation.
        parameters=[*LOG_PAGE_PARAMETERS, NEXT_AFTER, LOG_COMPLETE, OpenApiParameter("format", exclude=True)],
    )
    @action(
        detail=True,
        pagination_class=None,
        filter_backends=[],
        # text/plain stays for the clients that asked for text here before tail_run_logs_text had its own address.
        renderer_classes=[renderers.JSONRenderer, PlainTextRenderer],
    )
    def logs(self, request: Request, pk: str) -> HttpResponse:
        page = self._log_page(request)
        if request.accepted_renderer.format == "text":
            return page.as_text()
        return page.with_headers(Response(s.LogPageSerializer(page.data()).data))

    @extend_schema(
        operation_id="tail_run_logs_text",
        summary="Tail a run's log as text",
        description="The lines of tail_run_logs as plain text, one per line. The cursor is in the headers: pass "
        "X-Next-After back as `after`; X-Log-Complete is true once the run has ended and every line was sent.",
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The lines' text, one per line.")
        },
        filters=False,
        parameters=[*LOG_PAGE_PARAMETERS, NEXT_AFTER, LOG_COMPLETE],
    )
    @action(
        detail=True,
        url_path="logs/text",
        pagination_class=None,
        filter_backends=[],
        # The body is written here; DRF renders only errors, which are the API's JSON like everywhere else.
        content_negotiation_class=ErrorsAsJSON,
    )
    def logs_text(self, request: Request, pk: str) -> HttpResponse:
        return self._log_page(request).as_text()

    def _log_page(self, request: Request) -> LogPage:
        run = self._readable_run()
        after = _int_param(request, "after", 0, minimum=0)
        limit = _int_param(request, "limit", 1000, minimum=1, maximum=MAX_LOG_LINES)
        # Read the status first: lines written before a run ends are all visible once it has ended.
        status_now = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        lines = LogLine.objects.filter(run=run, seq__gt=after).order_by("seq")
        if request.query_params.get("step"):
            lines = lines.filter(step=request.query_params["step"])
        rows = list(lines.values("seq", "step", "stream", "level", "text", "at")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        return LogPage(
            lines=rows,
            next_after=rows[-1]["seq"] if rows else after,
            run_status=status_now,
            complete=status_now in FINAL_RUN_STATES and not more,
        )

    @extend_schema(
        operation_id="download_run_log",
        summary="Download a run's whole log",
        description=(
            "The run's whole log as a file, streamed: every line stored when the request was made, in order. "
            "`text` gives each line's text; `ndjson` one JSON object per line with `seq`, `at` (ISO 8601 with "
            "offset), `step`, `stream`, `level` and `text`."
        ),
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description=LOG_FILE),
            (200, "application/x-ndjson"): OpenApiResponse(s.LogLineSerializer, description=LOG_FILE),
        },
        filters=False,
        parameters=[
            OpenApiParameter("file_format", str, enum=list(FORMATS), description="The file's format (default text)."),
            OpenApiParameter(
                "format", str, enum=list(FORMATS), deprecated=True, description="The older name of file_format."
            ),
            OpenApiParameter("step", str, description="Only this step's lines."),
            OpenApiParameter(
                "Content-Disposition",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description='attachment; filename="run{id}-log.txt" (or .ndjson)',
            ),
            NEXT_AFTER,
        ],
    )
    @action(
        detail=True,
        url_path="logs/download",
        pagination_class=None,
        filter_backends=[],
        # `format` (file_format's older name) names the file's format here, not a renderer: errors are the API's
        # JSON whatever it says.
        content_negotiation_class=ErrorsAsJSON,
    )
    def logs_download(self, request: Request, pk: str) -> StreamingHttpResponse:
        run = self._readable_run()
        # `file_format`, which generated clients need not rename; `format` is its older name.
        name = "file_format" if "file_format" in request.query_params else "format"
        fmt = request.query_params.get(name) or "text"
        if fmt not in FORMATS:
            raise exceptions.ValidationError({name: f"must be one of {', '.join(FORMATS)}, not {fmt[:40]!r}"})
        step = request.query_params.get("step") or None
        upto = last_seq(run.pk)
        content_type, extension = FORMATS[fmt]
        response = StreamingHttpResponse(stream_log(run.pk, fmt, upto, step), content_type=content_type)
        name = f"run{run.pk}-{_filename_part(step)}-log" if step else f"run{run.pk}-log"
        response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
        response["X-Next-After"] = str(upto)
        return response

    # Last in the class: from here on `list` names this method in the class body.
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                description="The ETag of a page you have: a 304 without a body while that page would not change.",
            ),
            OpenApiParameter(
                "ETag", str, OpenApiParameter.HEADER, response=[200, 304], description="Send it back as If-None-Match."
            ),
        ],
        responses={200: s.RunSerializer(many=True), 304: OpenApiResponse(description="The page has not changed.")},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        runs = self.filter_queryset(self.get_queryset())
        if "If-None-Match" in request.headers:
            # A poll: the tag's narrow rows first, the page only if they changed.
            tag = page_tag(self, request, self.paginate_queryset(tag_rows(runs)))
            if unchanged(request, tag):
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        page = self.paginate_queryset(with_last_event(runs))
        response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        response["ETag"] = page_tag(self, request, page)
        return response


def _run_ids(raw: str) -> list[int]:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(part.isdigit() and len(part) < 19 for part in parts):
        raise exceptions.ValidationError({"ids": "must be run ids separated by commas"})
    ids = list(dict.fromkeys(int(part) for part in parts))
    if not comparison.MIN_COMPARED <= len(ids) <= comparison.MAX_COMPARED:
        raise exceptions.ValidationError(
            {"ids": f"name {comparison.MIN_COMPARED} to {comparison.MAX_COMPARED} different runs, not {len(ids)}"}
        )
    return ids


def _filename_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:100]


def _int_param(request: Request, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: f"must be a whole number, not {raw[:40]!r}"}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise exceptions.ValidationError({name: f"must be {bound}"})
    return value


@extend_schema_view(
    retrieve=extend_schema(summary="Get an artifact", description="What a step stored: name, type, size and digest.")
)
class ArtifactViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Artifacts of runs you can see; `download` streams the stored bytes (a pickle)."""

    api_resource = "artifact"
    serializer_class = s.ArtifactSerializer

    def get_queryset(self) -> QuerySet[Artifact]:
        return (
            Artifact.objects.filter(run__in=Run.objects.visible_to(self.request.user))
            .select_related("run__stack")
            .defer("data")
        )

    @extend_schema(
        summary="Download an artifact",
        description="The stored bytes (a Python pickle): unpickle only what you trust.",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True)
    def download(self, request: Request, pk: str) -> HttpResponse:
        artifact = self.get_object()
        filename = f"run{artifact.run_id}-{artifact.step}-{artifact.name}.pkl".replace('"', "")
        if artifact.uri.startswith("inline:"):
            data = Artifact.objects.values_list("data", flat=True).get(pk=artifact.pk)
            response = HttpResponse(bytes(data or b""), content_type="application/octet-stream")
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        stack = artifact.run.stack
        try:
            if is_remote(artifact.uri, stack):
                # Written by a remote job: streamed from the stack's storage with the stack's own client.
                stream = StackArtifacts().open(artifact.uri, stack)
            else:
                stream = open(path_of(artifact.uri), "rb")
        except (ValueError, OSError):
            raise exceptions.NotFound("the artifact's file is not available on this server") from None
        return FileResponse(stream, as_attachment=True, filename=filename, content_type="application/octet-stream")
