"""What a remote runner (inside a Vertex AI job) uses: its run's settings, and a place to report.

It authenticates with the run token the job was given, which opens these endpoints for that one
run while the run is active, and nothing else.

A report carries what user code printed, so it is made storable rather than refused: a refused
report is lost output, however the runner handles it. Texts get the rules of local logs
(`runs.logsanitize`: NUL removed, lone surrogates written out as `\\udce9`, secrets masked, lines cut
at MAX_LINE_CHARS with a marker) and a step's error is cut by the recorder with a marker. A log level
is upper-cased and cut to 16 characters (the column's width), so a custom level keeps the start of its
name; an empty one is INFO. What stays refused, with a 400 in the API's error shape: a body that is not
JSON or not a report, more than MAX_EVENTS events, a body over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB),
and names that cannot be a step's or an artifact's (over 200 characters, NUL, lone surrogates), a
metric the engine's `log_metric` would have refused (a bad name, a value that is not finite), and an
artifact's preview over the engine's size limit. A preview's texts are sanitised like log lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import authentication, exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from flowsite.api_defaults import error_response
from flowsite.api_parsers import JSONParser
from flowsite.engine import ExecutionResult
from flowsite.engine.metrics import MAX_STEP_INDEX, MetricError, checked_metric
from flowsite.engine.previews import MAX_PREVIEW_BYTES, preview_bytes

from ..logsanitize import log_level, storable
from ..models import ACTIVE_RUN_STATES, LogStream, Run, RunnerReport, RunStatus, RunToken
from ..recording import ArtifactRow, BatchWriter
from ..remote_artifacts import run_artifact_prefix

MAX_EVENTS = 10_000
# Bounds of the integer columns a report fills, so an absurd number is a 400 and not a database error.
MAX_ATTEMPTS = 2**31 - 1
MAX_SIZE = 2**63 - 1


class RunTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, RunToken] | None:
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != b"bearer" or not header[1].startswith(b"fsr_"):
            return None
        token = RunToken.authenticate(header[1].decode("ascii", errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("invalid run token")
        return RunnerUser(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="run"'


class RunTokenScheme(OpenApiAuthenticationExtension):
    target_class = "runs.api.remote.RunTokenAuthentication"
    name = "runToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The run token a remote job was given."}


class RunnerUser:
    """Who a remote runner is: authenticated for its run's endpoints, nobody anywhere else."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None


class OwnRunWhileActive(permissions.BasePermission):
    message = "this run token is for another run, or its run has ended"

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        return (
            isinstance(token, RunToken)
            and token.run_id == int(view.kwargs["pk"])
            and Run.objects.filter(pk=token.run_id, status__in=ACTIVE_RUN_STATES).exists()
        )


class StorableTextField(serializers.CharField):
    """Text from user code: made storable before DRF's validators, which refuse NUL and lone surrogates."""

    def to_internal_value(self, data: Any) -> str:
        return super().to_internal_value(storable(data) if isinstance(data, str) else data)


class LogLevelField(StorableTextField):
    """A level name as the column can hold it; none at all (blank) is INFO."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        return log_level(super().run_validation(data))


class StepResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    # No length limit: the recorder cuts a long error with a marker (the body's size bounds it).
    error = StorableTextField(allow_blank=True, allow_null=True, required=False)
    duration_seconds = serializers.FloatField(min_value=0)
    cached = serializers.BooleanField(default=False)
    skipped = serializers.BooleanField(default=False)
    artifact_uri = serializers.CharField(allow_null=True, required=False, max_length=1000)
    retries = serializers.IntegerField(min_value=0, max_value=MAX_ATTEMPTS, default=0)
    cache_key = serializers.CharField(allow_null=True, required=False, max_length=64)


@extend_schema_serializer(deprecate_fields=["type"])
class ReportEventSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["start", "finish", "log", "artifact", "metric"])
    at = serializers.DateTimeField()
    step = serializers.CharField(allow_blank=True, max_length=200)
    attempt = serializers.IntegerField(min_value=1, max_value=MAX_ATTEMPTS, required=False)
    result = StepResultSerializer(required=False)
    stream = serializers.ChoiceField(choices=LogStream.choices, required=False)
    level = LogLevelField(allow_blank=True, required=False)
    # No length limit: the writer cuts a long line with a marker, as for local runs.
    text = StorableTextField(allow_blank=True, trim_whitespace=False, required=False)
    name = serializers.CharField(max_length=200, required=False)
    uri = serializers.CharField(max_length=1000, required=False)
    size = serializers.IntegerField(min_value=0, max_value=MAX_SIZE, required=False)
    digest = serializers.CharField(max_length=64, required=False, allow_blank=True)
    value_type = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="The Python type of the artifact's value."
    )
    # What runners sent before value_type: a job started from an older image still reports with it.
    type = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="The older name of value_type."
    )
    preview = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="What the runner saw of an artifact's value (flowsite.engine.previews).",
    )
    value = serializers.FloatField(required=False, help_text="A metric's value: a finite number.")
    step_index = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_STEP_INDEX)

    def validate_preview(self, preview: Any) -> Any:
        if preview is not None and (not isinstance(preview, dict) or preview_bytes(preview) > MAX_PREVIEW_BYTES):
            raise serializers.ValidationError(f"must be a JSON object of at most {MAX_PREVIEW_BYTES} bytes")
        return preview

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        required = {"start": ["attempt"], "finish": ["result"], "log": ["stream", "level", "text"],
                    "artifact": ["name", "uri", "size"], "metric": ["name", "value"]}[attrs["kind"]]  # fmt: skip
        missing = [name for name in required if name not in attrs]
        if missing:
            raise serializers.ValidationError({name: f"required for a {attrs['kind']} event" for name in missing})
        if attrs["kind"] == "artifact" and not attrs["uri"].startswith(("gs://", "file://")):
            raise serializers.ValidationError({"uri": "must be a gs:// or file:// URI"})
        if attrs["kind"] == "metric":
            try:
                checked_metric(attrs["name"], attrs["value"], attrs.get("step_index"))
            except MetricError as exc:
                raise serializers.ValidationError(
                    {"step_index" if exc.field == "step" else exc.field: str(exc)}
                ) from None
        return attrs


class ReportSerializer(serializers.Serializer):
    runner = serializers.RegexField(
        r"^[0-9a-f]{32}$", required=False, help_text="The runner process that sends the report (with `batch`)."
    )
    batch = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The runner's number for this batch of events: a batch it already reported is not recorded again.",
    )
    events = ReportEventSerializer(many=True, max_length=MAX_EVENTS)


class RemoteRunSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    pipeline = serializers.CharField()
    code_version = serializers.CharField()
    project = serializers.CharField()
    params = serializers.DictField()
    artifact_uri = serializers.CharField(allow_blank=True)
    stop = serializers.BooleanField()


class ReplySerializer(serializers.Serializer):
    stop = serializers.BooleanField(help_text="True once the run is being cancelled: stop the steps.")
    status = serializers.CharField()


def _under(uri: str, prefix: str) -> bool:
    # Plain segments only below the prefix: no "..", so the run cannot climb into another's files.
    return (
        bool(prefix)
        and uri.startswith(prefix)
        and all(part not in ("", ".", "..") for part in uri[len(prefix) :].split("/"))
    )


def _as_event(event: dict[str, Any]) -> tuple[Any, ...]:
    at: datetime = event["at"]
    kind, step = event["kind"], event["step"]
    if kind == "log":
        return ("log", step, event["stream"], event["level"], event["text"], at)
    if kind == "start":
        return ("start", step, event["attempt"], at)
    if kind == "finish":
        result = event["result"]
        return ("finish", step, ExecutionResult(step_name=step, output=None, **result), at)
    if kind == "metric":
        return ("metric", step, event["name"], event["value"], event.get("step_index"), at)
    return (
        "artifact",
        ArtifactRow(
            step=step, name=event["name"], uri=event["uri"], size=event["size"],
            digest=event.get("digest", ""), type=event.get("value_type", event.get("type", "")), data=None,
            created_at=at, preview=event.get("preview"),
        ),
    )  # fmt: skip


# A run token opens only its own run while it is active: any other run, known or not, is a 403 (a 404 is only
# for an address that names no run at all); run tokens are not throttled like personal tokens.
NOT_ANSWERED = ("429",)
REFUSED = error_response("The token is for another run, or the run has ended.")


class RemoteRunView(APIView):
    """The run a remote runner executes: pipeline, parameters, and whether to stop."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [OwnRunWhileActive]
    errors_not_answered = NOT_ANSWERED
    api_resource = "remote_run"

    @extend_schema(
        summary="Get the run to execute",
        description="For a remote runner, with its run token: the pipeline, parameters, and whether to stop.",
        responses={200: RemoteRunSerializer, 403: REFUSED},
    )
    def get(self, request: Request, pk: str) -> Response:
        run = Run.objects.select_related("pipeline", "project", "stack").get(pk=pk)
        data = {
            "run": run.pk,
            "pipeline": run.pipeline.name,
            "code_version": run.pipeline.code_version,
            "project": run.project.slug,
            "params": run.params,
            "artifact_uri": (run.stack.config or {}).get("artifact_uri") or "",
            "stop": run.status == RunStatus.CANCELLING,
        }
        return Response(RemoteRunSerializer(data).data)


class RemoteSecretsSerializer(serializers.Serializer):
    secrets = serializers.DictField(child=serializers.CharField(), help_text="The stack's secrets, names to values.")


class RemoteSecretsView(APIView):
    """The stack's secrets, for the runner to export before the pipeline starts: kept out of the job's spec."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [OwnRunWhileActive]
    errors_not_answered = NOT_ANSWERED
    api_resource = "remote_run"

    @extend_schema(
        operation_id="get_remote_run_secrets",
        summary="Get the run's secrets",
        description="For a remote runner, with its run token: the stack's secrets, kept out of the job's spec.",
        responses={200: RemoteSecretsSerializer, 403: REFUSED},
    )
    def get(self, request: Request, pk: str) -> Response:
        run = Run.objects.select_related("stack").get(pk=pk)
        return Response({"secrets": run.stack.job_secrets()})


class RemoteReportView(APIView):
    """Step events, log lines and artifacts of the run, in order; the reply says whether to stop."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [OwnRunWhileActive]
    parser_classes = [JSONParser]
    errors_not_answered = NOT_ANSWERED
    api_resource = "remote_run"

    @extend_schema(
        operation_id="report_remote_run",
        summary="Report a run's progress",
        description="For a remote runner, with its run token: step events, log lines and artifacts, in order; the "
        "reply says whether to stop. A batch sent again (same runner and batch) is recorded once.",
        request=ReportSerializer,
        responses={200: ReplySerializer, 403: REFUSED},
    )
    def post(self, request: Request, pk: str) -> Response:
        serializer = ReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = Run.objects.select_related("stack", "project").get(pk=pk)
        reported = serializer.validated_data["events"]
        prefix = run_artifact_prefix(run)
        for index, event in enumerate(reported):
            if event["kind"] == "artifact" and not _under(event["uri"], prefix):
                raise exceptions.ValidationError(
                    {
                        f"events.{index}.uri": f"a run registers only its own artifacts, under {prefix or 'its artifact_uri'}"
                    }
                )
        events = [_as_event(event) for event in reported]
        runner, batch = serializer.validated_data.get("runner"), serializer.validated_data.get("batch")
        with transaction.atomic():
            # One report at a time per run (this UPDATE locks its row), so log sequence numbers follow
            # the order of reports.
            Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            if runner and batch and reported and not RunnerReport.is_new(run.pk, runner, batch):
                events = []  # recorded already: the runner sent it again because our answer was lost
            if events:
                BatchWriter.resume(run.pk, run.stack.secret_values()).write(events)
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        return Response({"stop": status == RunStatus.CANCELLING, "status": status})
