from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, negotiation, permissions, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from flowsite.api_defaults import (
    Conflict, CursorPagination, ErrorSerializer, Refused, StrictOrderingFilter, Unprocessable,
)  # fmt: skip

from ..models import (
    FINAL_RUN_STATES, Artifact, LogLine, Membership, PipelineDef, Project, Role, Run, RunStateError, StepRun,
    has_role,
)  # fmt: skip
from ..logexport import FORMATS, last_seq, stream_log
from ..recording import path_of
from ..remote_artifacts import StackArtifacts, is_remote
from ..triggering import CodeUnavailable, IdempotencyConflict, StackNotGranted, TriggerError, trigger_or_replay
from . import serializers as s
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
    description="The sequence number of the last line sent: pass it as ?after= to get the lines that follow.",
)


# A run shown alone or acted on comes with its related rows whole: cancel and retry read its stack and pipeline.
WHOLE = ("project", "pipeline", "stack", "triggered_by", "cancelled_by")


def _roles(user: Any) -> dict[int, str]:
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


class ProjectViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Projects you belong to. Staff create them (and own what they create); owners edit them."""

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


class MemberViewSet(viewsets.ViewSet):
    """A project's members and their roles. Everyone in the project sees them; owners change them."""

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
        request=s.NewMemberSerializer,
        responses={
            201: s.MembershipSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Too many usernames that matched no active user."),
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

    @extend_schema(request=s.MembershipRoleSerializer, responses={200: s.MembershipSerializer})
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

    @extend_schema(responses={204: None})
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


class PipelineViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered pipelines, each at its latest code version, with DAG and parameter schema."""

    serializer_class = s.PipelineSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    pagination_class = None

    def get_queryset(self) -> QuerySet[PipelineDef]:
        latest = PipelineDef.objects.filter(name=OuterRef("name")).order_by("-created_at", "-id").values("pk")[:1]
        return PipelineDef.objects.filter(pk=Subquery(latest)).order_by("name")



class PipelineRunViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A pipeline's run history (runs of projects you belong to), newest first."""

    serializer_class = s.RunSerializer
    pagination_class = CursorPagination
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = RunFilter
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Run]:
        if getattr(self, "swagger_fake_view", False):
            return Run.objects.none()
        name = self.kwargs["pipeline_name"]
        # Pipelines are listed to everyone signed in, so naming an unknown one reveals nothing.
        if not PipelineDef.objects.filter(name=name).exists():
            raise exceptions.NotFound(f"no pipeline named {name[:200]!r}")
        return s.runs_for_listing(Run.objects.visible_to(self.request.user).filter(pipeline__name=name))


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


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of the projects you belong to: history with filters, trigger, cancel, retry, steps, logs."""

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
        return context

    def _respond(self, run: Run, code: int) -> Response:
        run = self.get_queryset().get(pk=run.pk)
        return Response(s.RunSerializer(run, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        request=s.TriggerSerializer,
        responses={
            201: s.RunSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="A viewer may not start runs, and a project runs only on the stacks staff granted it.",
            ),
            422: OpenApiResponse(
                ErrorSerializer,
                description="The Idempotency-Key already started a run from a different pipeline, stack or parameters.",
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
                    "same request (the same pipeline, stack and parameters once defaults are applied) returns the "
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

    @extend_schema(request=None, responses={202: s.RunSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        try:
            run.cancel(by=request.user)
        except RunStateError as exc:
            raise Conflict(str(exc), run_status=exc.run.status) from None
        return self._respond(run, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={201: s.RunSerializer, 409: OpenApiTypes.OBJECT})
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

    @extend_schema(responses=s.StepRunSerializer(many=True), filters=False)
    @action(detail=True, pagination_class=None, filter_backends=[])
    def steps(self, request: Request, pk: str) -> Response:
        steps = s.steps_for_display(self._readable_run().steps.all())
        context = {"readable_projects": s.readable_projects(request.user)}
        return Response(s.StepRunSerializer(steps, many=True, context=context).data)

    @extend_schema(responses=s.RunEventSerializer(many=True), filters=False)
    @action(detail=True, pagination_class=None, filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        events = self._readable_run().events.select_related("step", "actor")
        return Response(s.RunEventSerializer(events, many=True).data)

    @extend_schema(
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
        responses={
            (200, "application/json"): s.LogPageSerializer,
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The lines' text, one per line."),
        },
        filters=False,
        parameters=[
            OpenApiParameter(
                "after", {"type": "integer", "minimum": 0}, description="Only lines after this sequence number (default 0)."
            ),
            OpenApiParameter("step", str, description="Only this step's lines."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES},
                description="At most this many lines (default 1000).",
            ),
            OpenApiParameter("format", str, enum=["json", "text"], description="text: plain lines."),
            NEXT_AFTER,
            OpenApiParameter(
                "X-Log-Complete",
                {"type": "string", "enum": ["true", "false"]},
                OpenApiParameter.HEADER,
                response=[200],
                description="true once the run has ended and every line was returned (`complete`).",
            ),
        ],
    )
    @action(
        detail=True,
        pagination_class=None,
        filter_backends=[],
        renderer_classes=[renderers.JSONRenderer, PlainTextRenderer],
    )
    def logs(self, request: Request, pk: str) -> HttpResponse:
        """A page of log lines in order; follow `next_after` (or the X-Next-After header) to tail a live run."""
        run = self._readable_run()
        after = _int_param(request, "after", 0, minimum=0)
        limit = _int_param(request, "limit", 1000, minimum=1, maximum=MAX_LOG_LINES)
        # Read the status first: lines written before a run ends are all visible once it has ended.
        status_now = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        lines = LogLine.objects.filter(run=run, seq__gt=after).order_by("seq")
        if request.query_params.get("step"):
            lines = lines.filter(step=request.query_params["step"])
        page = list(lines.values("seq", "step", "stream", "level", "text", "at")[: limit + 1])
        more = len(page) > limit
        page = page[:limit]
        next_after = page[-1]["seq"] if page else after
        complete = status_now in FINAL_RUN_STATES and not more
        response: HttpResponse
        if request.accepted_renderer.format == "text":
            # Built here: DRF drops the Content-Type of an empty rendered body.
            text = "".join(f"{line['text']}\n" for line in page)
            response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        else:
            data = {"lines": page, "next_after": next_after, "run_status": status_now, "complete": complete}
            response = Response(s.LogPageSerializer(data).data)
        # The cursor travels in headers too, so that plain-text tailing is not a dead end.
        response["X-Next-After"] = str(next_after)
        response["X-Log-Complete"] = "true" if complete else "false"
        return response

    @extend_schema(
        operation_id="runs_logs_download",
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
            OpenApiParameter("format", str, enum=list(FORMATS), description="The file's format (default text)."),
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
        # `format` names the file's format here, not a renderer: errors are the API's JSON whatever it says.
        content_negotiation_class=ErrorsAsJSON,
    )
    def logs_download(self, request: Request, pk: str) -> StreamingHttpResponse:
        run = self._readable_run()
        fmt = request.query_params.get("format") or "text"
        if fmt not in FORMATS:
            raise exceptions.ValidationError({"format": f"must be one of {', '.join(FORMATS)}, not {fmt[:40]!r}"})
        step = request.query_params.get("step") or None
        upto = last_seq(run.pk)
        content_type, extension = FORMATS[fmt]
        response = StreamingHttpResponse(stream_log(run.pk, fmt, upto, step), content_type=content_type)
        name = f"run{run.pk}-{_filename_part(step)}-log" if step else f"run{run.pk}-log"
        response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
        response["X-Next-After"] = str(upto)
        return response


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


class ArtifactViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Artifacts of runs you can see; `download` streams the stored bytes (a pickle)."""

    serializer_class = s.ArtifactSerializer

    def get_queryset(self) -> QuerySet[Artifact]:
        return (
            Artifact.objects.filter(run__in=Run.objects.visible_to(self.request.user))
            .select_related("run__stack")
            .defer("data")
        )

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
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
