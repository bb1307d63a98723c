from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, F, Prefetch, QuerySet
from django.db.models.manager import BaseManager
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.models import Membership, Project, Role  # fmt: skip
from flowsite.api_defaults import ErrorDetailSerializer
from stacks.models import Stack
from stacks.registry import remote_kinds

from .. import registry
from ..comparison import last_metric_values
from ..models import FINAL_STEP_STATES, Artifact, LogStream, PipelineDef, Run, RunEvent, RunStatus, StepRun, StepStatus

# Each outcome counted apart, so that a failed run never reads as complete.
OUTCOME_COUNTS = {
    "steps_completed": StepStatus.COMPLETED,
    "steps_cached": StepStatus.CACHED,
    "steps_skipped": StepStatus.SKIPPED,
    "steps_failed": StepStatus.FAILED,
    "steps_cancelled": StepStatus.CANCELLED,
}


def count_steps(runs: Sequence[Run]) -> None:
    """Set each run's step counts (`steps_total`, `steps_done` and one per outcome), with one query for them all.

    Counted once the page is known: as seven subqueries of the runs query they cost Django more time to
    build and compile than PostgreSQL to run."""
    by_run: dict[int, Counter[str]] = defaultdict(Counter)
    rows = StepRun.objects.filter(run__in=[run.pk for run in runs]).order_by().values_list("run_id", "status")
    for run_id, status, n in rows.annotate(n=Count("pk")):
        by_run[run_id][status] = n
    for run in runs:
        counts = by_run[run.pk]
        run.steps_total = counts.total()
        run.steps_done = sum(counts[status] for status in FINAL_STEP_STATES)
        for name, status in OUTCOME_COUNTS.items():
            setattr(run, name, counts[status])


LISTED_WITHOUT = (
    "project__description",
    "pipeline__description", "pipeline__dag", "pipeline__parameters",
    "stack__description", "stack__config", "stack__secrets",
)  # fmt: skip


def runs_for_listing(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Everything a page of runs shows but the step counts, in a fixed number of queries whatever the page size.

    Joined to the project, pipeline and stack for the names a list shows, not a pipeline's graph nor a
    stack's secrets (which each row decrypted). The users come apart: PostgreSQL's planning time grows
    with every table joined, from under 1 ms with these three to some 10 ms with all five (at 100,000 runs).
    """
    users = get_user_model().objects.only("username")
    return (
        queryset.select_related("project", "pipeline", "stack")
        .defer(*LISTED_WITHOUT)
        .prefetch_related(Prefetch("triggered_by", users), Prefetch("cancelled_by", users))
    )


def steps_for_display(queryset: QuerySet[StepRun]) -> QuerySet[StepRun]:
    """Steps with the run and project their output came from (another run's, for a cached step), without its bytes."""
    return queryset.annotate(
        output_run=F("output_artifact__run_id"), output_project=F("output_artifact__run__project_id")
    )


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in the project.")

    class Meta:
        model = Project
        fields = ["slug", "name", "description", "created_at", "role"]
        read_only_fields = ["created_at", "role"]

    def get_role(self, project: Project) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(project.pk)


class ProjectUpdateSerializer(ProjectSerializer):
    class Meta(ProjectSerializer.Meta):
        read_only_fields = ["slug", "created_at", "role"]


# One answer for a name nobody has and a deactivated user's: an owner learns no more than "not addable".
NO_ACTIVE_USER = "no active user with that username"


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role"]


class NewMemberSerializer(serializers.Serializer):
    """Who to add: the view looks the username up among active users only."""

    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


# A run's parameters: names to JSON values (Python `dict[str, Any]`, TypeScript `Record<string, unknown>`).
JSON_MAP = {"type": "object", "additionalProperties": {}}


@extend_schema_field(JSON_MAP)
class ParamsField(serializers.JSONField):
    """Run parameters, names to any JSON values."""


JSON_TYPES = ["string", "integer", "number", "boolean", "array", "object"]


@extend_schema_serializer(deprecate_fields=["type"])
class ParameterSpecSerializer(serializers.Serializer):
    """A run parameter the pipeline's steps read: what a trigger may set."""

    name = serializers.CharField()
    json_type = serializers.ChoiceField(
        choices=JSON_TYPES, allow_null=True, help_text="The JSON type of its value; null when any JSON value is taken."
    )
    type = serializers.CharField(allow_blank=True, help_text="The older name of json_type, empty for any JSON value.")
    required = serializers.BooleanField(help_text="True when it has no default: a trigger must set it.")
    default = serializers.JSONField(allow_null=True, help_text="The value a trigger that leaves it out gets.")
    default_repr = serializers.CharField(
        allow_blank=True, help_text="The default as the code wrote it, where JSON cannot hold it; empty otherwise."
    )
    steps = serializers.ListField(child=serializers.CharField(), help_text="The steps that read it.")


def parameter_specs(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored parameter list as the API shows it (one key more: `json_type`, null for any JSON)."""
    return [{**spec, "json_type": spec.get("type") or None} for spec in parameters]


@extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["input_hash", "custom"]}]})
class CacheSettingField(serializers.JSONField):
    pass


class DagNodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    group = serializers.CharField(allow_null=True, help_text="The step group it runs in, on one machine; null if none.")
    inputs = serializers.ListField(child=serializers.CharField())
    outputs = serializers.ListField(child=serializers.CharField())
    upstream = serializers.ListField(child=serializers.CharField(), help_text="The steps whose outputs it reads.")
    retry = serializers.IntegerField(help_text="How many times a failure is retried.")
    timeout = serializers.FloatField(allow_null=True, help_text="Seconds an attempt may take; null: no limit.")
    cache = CacheSettingField(help_text='true, false, "input_hash", or "custom" for a function of its own.')
    conditional = serializers.BooleanField(help_text="True when a condition decides whether it runs.")
    tags = serializers.DictField(child=serializers.CharField())


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 2,
        "maxItems": 2,
        "description": "[producer, consumer]: the consumer reads an output of the producer.",
    }
)
class EdgeField(serializers.ListField):
    child = serializers.CharField()


class DagGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    steps = serializers.ListField(child=serializers.CharField(), help_text="Its steps, in the order they run.")


class DagSerializer(serializers.Serializer):
    """The pipeline's graph: steps in the order they run, producer -> consumer edges, and the step groups."""

    nodes = DagNodeSerializer(many=True)
    edges = serializers.ListField(child=EdgeField())
    groups = DagGroupSerializer(many=True)


def dag_for_api(dag: dict[str, Any]) -> dict[str, Any]:
    """The stored graph with its step groups listed (computed, so older stored graphs have them too)."""
    groups: dict[str, list[str]] = {}
    for node in dag.get("nodes", []):
        if node.get("group"):
            groups.setdefault(node["group"], []).append(node["name"])
    return DagSerializer(
        {
            "nodes": dag.get("nodes", []),
            "edges": dag.get("edges", []),
            "groups": [{"name": name, "steps": steps} for name, steps in groups.items()],
        }
    ).data


class PipelineSerializer(serializers.ModelSerializer):
    runs_url = serializers.SerializerMethodField()
    dag = serializers.SerializerMethodField()
    parameters = serializers.SerializerMethodField(help_text="The run parameters its steps read.")
    unavailable_on = serializers.SerializerMethodField(
        help_text="Stacks this version cannot run on, each with the reason (no worker has its code); "
        "a trigger there answers 409. Empty when it can run everywhere."
    )

    class Meta:
        model = PipelineDef
        fields = [
            "name", "description", "code_version", "module", "dag", "parameters", "created_at", "runs_url",
            "unavailable_on",
        ]  # fmt: skip

    @extend_schema_field(DagSerializer)
    def get_dag(self, definition: PipelineDef) -> dict[str, Any]:
        return dag_for_api(definition.dag)

    @extend_schema_field(ParameterSpecSerializer(many=True))
    def get_parameters(self, definition: PipelineDef) -> list[dict[str, Any]]:
        return parameter_specs(definition.parameters)

    def get_runs_url(self, definition: PipelineDef) -> str:
        return self.context["request"].build_absolute_uri(reverse("pipeline-run-list", args=[definition.name]))

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_unavailable_on(self, definition: PipelineDef) -> dict[str, str]:
        stacks = self._worker_stacks()
        problem = registry.why_unavailable(
            definition.name, definition.code_version, self._worker_versions().get(definition.name, set())
        )
        return dict.fromkeys(stacks, problem) if problem else {}

    def _worker_versions(self) -> dict[str, set[str]]:
        # Looked up once for a whole list, so listing pipelines stays a constant number of queries.
        if "worker_versions" not in self.context:
            names = (
                [d.name for d in self.parent.instance]
                if isinstance(self.parent, serializers.ListSerializer)
                else [self.instance.name]
            )
            self.context["worker_versions"] = registry.worker_versions(names)
        return self.context["worker_versions"]

    def _worker_stacks(self) -> list[str]:
        if "worker_stacks" not in self.context:
            visible = Stack.objects.visible_to(self.context["request"].user)
            self.context["worker_stacks"] = list(
                visible.exclude(kind__in=remote_kinds()).order_by("name").values_list("name", flat=True)
            )
        return self.context["worker_stacks"]


RUN_LINKS = (
    ("self", ""),
    ("steps", "steps/"),
    ("events", "events/"),
    ("logs", "logs/"),
    ("artifacts", "artifacts/"),
    ("metrics", "metrics/"),
    ("cancel", "cancel/"),
    ("retry", "retry/"),
)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "format": "uri"}})
class RunLinksField(serializers.Field):
    def __init__(self) -> None:
        super().__init__(source="*", read_only=True)

    def to_representation(self, run: Run) -> dict[str, str]:
        return run_links(run, self.context)


def run_links(run: Run, context: dict[str, Any]) -> dict[str, str]:
    """A run's links (RunLinksField's value), with the runs' address cached in the serializer's `context`."""
    # The runs' address built once for a whole page, each run's by its id, the others by suffix:
    # reversing and building every link took a tenth of a page's time.
    if "runs_url" not in context:
        context["runs_url"] = context["request"].build_absolute_uri(reverse("run-list"))
    base = f"{context['runs_url']}{run.pk}/"
    return {name: f"{base}{suffix}" for name, suffix in RUN_LINKS}


class RunListSerializer(serializers.ListSerializer):
    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        runs = list(data.all() if isinstance(data, BaseManager) else data)
        count_steps(runs)
        add_chosen_metrics(runs, self.context.get("metric_names"))
        if type(self.child) is not RunSerializer:
            return super().to_representation(runs)
        # Not through the child's fields: building a ModelSerializer's fields for each request cost more than
        # writing out a page.
        return [listed_run(run, self.context) for run in runs]


# The zone fixed once (the settings' TIME_ZONE, which no request changes): DRF looks the current one up
# for every value.
_WHEN = serializers.DateTimeField(default_timezone=timezone.get_default_timezone()).to_representation
when_text = _WHEN


def listed_run(run: Run, context: dict[str, Any]) -> dict[str, Any]:
    """What RunSerializer makes of a run, written out: DRF's work per field was half of a runs page's CPU
    (tests/api/test_runs.py holds the two to the same output)."""
    return {
        "id": run.pk,
        "project": run.project.slug,
        "pipeline": run.pipeline.name,
        "code_version": run.pipeline.code_version,
        "stack": run.stack.name if run.stack_id is not None else None,
        "status": run.status,
        "params": run.params,
        "triggered_by": run.triggered_by.username if run.triggered_by_id is not None else None,
        "created_at": _WHEN(run.created_at),
        "started_at": _WHEN(run.started_at),
        "finished_at": _WHEN(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "cancel_requested_at": _WHEN(run.cancel_requested_at),
        "cancelled_by": run.cancelled_by.username if run.cancelled_by_id is not None else None,
        "failure_reason": run.failure_reason,
        "failure_message": run.failure_message,
        "retry_of": run.retry_of_id,
        "remote_console_url": run.remote_console_url,
        "steps_total": run.steps_total,
        "steps_done": run.steps_done,
        **{name: getattr(run, name) for name in OUTCOME_COUNTS},
        "metrics": getattr(run, "chosen_metrics", {}),
        "links": run_links(run, context),
    }


def add_chosen_metrics(runs: Sequence[Run], names: list[str] | None) -> None:
    """Set each run's `chosen_metrics`: its last value of each named metric (null where it recorded none)."""
    if not names:
        return
    values = last_metric_values([run.pk for run in runs], names)
    for run in runs:
        run.chosen_metrics = {name: values[run.pk].get(name) for name in names}


METRIC_VALUES = {"type": "object", "additionalProperties": {"type": "number", "nullable": True}}


class RunSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pipeline = serializers.CharField(source="pipeline.name", read_only=True)
    code_version = serializers.CharField(source="pipeline.code_version", read_only=True)
    stack = serializers.SlugRelatedField(slug_field="name", read_only=True)
    params = ParamsField(read_only=True, help_text="The run's parameters, with the defaults it ran with.")
    triggered_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The username of who triggered it; null when no user did, or the user has been deleted.",
    )
    cancelled_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The username of who asked to cancel it; null if nobody did, or the user was deleted.",
    )
    failure_reason = serializers.CharField(
        read_only=True, help_text="Why the run ended unsuccessfully; empty otherwise."
    )
    remote_console_url = serializers.CharField(
        read_only=True, help_text="The job's page for remote runs; empty otherwise."
    )
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    steps_total = serializers.IntegerField(read_only=True)
    steps_done = serializers.IntegerField(read_only=True, help_text="Steps that have ended, whatever their outcome.")
    steps_completed = serializers.IntegerField(read_only=True, help_text="Steps that ran and succeeded.")
    steps_cached = serializers.IntegerField(read_only=True, help_text="Steps served from an earlier run's output.")
    steps_skipped = serializers.IntegerField(read_only=True, help_text="Skipped by a condition, or a skipped input.")
    steps_failed = serializers.IntegerField(read_only=True)
    steps_cancelled = serializers.IntegerField(
        read_only=True, help_text="Steps stopped, or never run, by a cancel or an earlier failure."
    )
    metrics = serializers.SerializerMethodField(
        help_text="In a list, the metrics named by ?metrics= (each run's last value, null if none); "
        "for a single run, every metric it recorded."
    )
    links = RunLinksField()

    class Meta:
        model = Run
        fields = [
            "id", "project", "pipeline", "code_version", "stack", "status", "params", "triggered_by",
            "created_at", "started_at", "finished_at", "duration_seconds", "cancel_requested_at",
            "cancelled_by", "failure_reason", "failure_message", "retry_of", "remote_console_url",
            "steps_total", "steps_done", "steps_completed", "steps_cached", "steps_skipped", "steps_failed",
            "steps_cancelled", "metrics", "links",
        ]  # fmt: skip
        read_only_fields = fields
        list_serializer_class = RunListSerializer

    def to_representation(self, run: Run) -> dict[str, Any]:
        if not hasattr(run, "steps_total"):  # one run alone; a list's were counted together
            count_steps([run])
        return super().to_representation(run)

    @extend_schema_field(METRIC_VALUES)
    def get_metrics(self, run: Run) -> dict[str, float | None]:
        if hasattr(run, "chosen_metrics"):
            return run.chosen_metrics
        if self.parent is not None:
            return {}
        return last_metric_values([run.pk]).get(run.pk, {})


def readable_projects(user: Any) -> frozenset[int] | None:
    """Ids of the projects whose runs the user may read; None for a superuser, who reads them all."""
    if user.is_superuser:
        return None
    return frozenset(Membership.objects.filter(user=user).values_list("project_id", flat=True))


class StepRunSerializer(serializers.ModelSerializer):
    """Needs `steps_for_display` rows and `readable_projects` in the context: a cached step's output may be
    another project's, which is named only to those who may read it."""

    error = serializers.CharField(
        read_only=True, help_text="Why the step failed, or why it was skipped or not run; empty otherwise."
    )
    output_artifact = serializers.SerializerMethodField(
        help_text="The artifact holding the step's output (another run's for a cached step); null if none you can read."
    )
    cached_from_run = serializers.SerializerMethodField(
        help_text="For a cached step, the run that produced its output; null otherwise or if you cannot read that run."
    )

    class Meta:
        model = StepRun
        fields = [
            "name", "group", "position", "status", "attempts", "cached", "skipped", "started_at",
            "finished_at", "duration_seconds", "error", "cache_key", "output_artifact", "cached_from_run",
        ]  # fmt: skip
        read_only_fields = fields

    def _readable(self, step: StepRun) -> bool:
        projects = self.context["readable_projects"]
        return step.output_artifact_id is not None and (projects is None or step.output_project in projects)

    def get_output_artifact(self, step: StepRun) -> int | None:
        return step.output_artifact_id if self._readable(step) else None

    def get_cached_from_run(self, step: StepRun) -> int | None:
        if step.status != StepStatus.CACHED or not self._readable(step):
            return None
        return step.output_run


class RunDetailSerializer(RunSerializer):
    steps = StepRunSerializer(many=True, read_only=True)
    dag = serializers.SerializerMethodField(help_text="The graph of the code this run ran.")
    schedule = serializers.SerializerMethodField(
        help_text="The schedule that started the run (`id`) and the fire time it ran for (`fire_at`); null otherwise."
    )
    cache = serializers.BooleanField(
        source="use_cache", read_only=True, help_text="false for a fresh run, which served no step from the cache."
    )

    class Meta(RunSerializer.Meta):
        fields = [
            *RunSerializer.Meta.fields, "heartbeat_at", "worker_host", "remote_job_name", "schedule", "steps", "dag",
            "cache",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(DagSerializer)
    def get_dag(self, run: Run) -> dict[str, Any]:
        return dag_for_api(run.pipeline.dag)

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"id": {"type": "integer"}, "fire_at": {"type": "string", "format": "date-time"}},
            "required": ["id", "fire_at"],
        }
    )
    def get_schedule(self, run: Run) -> dict[str, Any] | None:
        # The fire row of the schedules app records the run it started (schedules.models.ScheduleFire).
        try:
            fire = run.schedule_fire
        except ObjectDoesNotExist:
            return None
        return {"id": fire.schedule_id, "fire_at": _WHEN(fire.fire_at)}


class TriggerSerializer(serializers.Serializer):
    project = serializers.SlugField(help_text="The project's slug.")
    pipeline = serializers.CharField(max_length=200)
    stack = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="Default stack if empty.")
    params = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict, help_text="Run parameters; defaults fill the rest."
    )
    # No schema default: openapi-typescript would make a field with one required in the request's type.
    cache = serializers.BooleanField(
        required=False,
        help_text="false: a fresh run, whose steps all execute even where the cache holds their result "
        "(true when left out: served from the cache where a step's code, inputs and parameters match).",
    )


# An event's statuses are the run's for the run's own events and the step's for a step's.
RUN_OR_STEP_STATUS = [{"$ref": "#/components/schemas/RunStatusEnum"}, {"$ref": "#/components/schemas/StepStatusEnum"}]


@extend_schema_field({"anyOf": RUN_OR_STEP_STATUS})
class EventStatusField(serializers.CharField):
    pass


@extend_schema_field({"anyOf": [*RUN_OR_STEP_STATUS, {"type": "string", "enum": [""]}]})
class EventOldStatusField(serializers.CharField):
    """Empty for the event that created the run."""


class RunEventSerializer(serializers.ModelSerializer):
    step = serializers.CharField(source="step.name", read_only=True, allow_null=True, default=None)
    old_status = EventOldStatusField(
        read_only=True,
        help_text="A run status for the run's events (`step` null), a step status for a step's; empty for the "
        "event that created the run.",
    )
    new_status = EventStatusField(
        read_only=True, help_text="A run status for the run's events (`step` null), a step status for a step's."
    )
    actor = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The username of who caused it (a trigger, a cancel); null for the system's own changes.",
    )

    class Meta:
        model = RunEvent
        fields = ["id", "at", "step", "old_status", "new_status", "reason", "actor"]
        read_only_fields = fields


@extend_schema_serializer(deprecate_fields=["type"])
class ArtifactSerializer(serializers.ModelSerializer):
    value_type = serializers.CharField(source="type", read_only=True, help_text="The Python type of the stored value.")
    type = serializers.CharField(read_only=True, help_text="The older name of value_type.")
    preview = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    storage = serializers.SerializerMethodField()

    class Meta:
        model = Artifact
        fields = [
            "id", "run", "step", "name", "value_type", "type", "size", "digest", "storage", "preview", "created_at",
            "download_url",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "What the runner saw of the value when it stored it (never read from the pickle): "
            "`kind` is number (`value`), text (`text`, `length`), json (`text`, `truncated`), table (`columns`, "
            "`rows`, `total_rows`) or array (`shape`, `dtype`); null when the value has no preview.",
            "additionalProperties": True,
        }
    )
    def get_preview(self, artifact: Artifact) -> dict[str, Any] | None:
        return artifact.preview

    def get_download_url(self, artifact: Artifact) -> str:
        return self.context["request"].build_absolute_uri(reverse("artifact-download", args=[artifact.pk]))

    @extend_schema_field(OpenApiTypes.STR)
    def get_storage(self, artifact: Artifact) -> str:
        return artifact.uri.split(":", 1)[0]


class LogLineSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="The line's place in the run's log, from 1.")
    step = serializers.CharField(help_text="The step that wrote it; empty for the run's own lines.")
    stream = serializers.ChoiceField(choices=LogStream.choices)
    level = serializers.CharField(
        help_text="Not closed: DEBUG, INFO, WARNING, ERROR or CRITICAL, or a custom logging level's name (at most "
        "16 characters). Printed lines are INFO, stderr lines WARNING."
    )
    text = serializers.CharField()
    at = serializers.DateTimeField(help_text="When it was written, in ISO 8601 with its offset.")


class LogPageSerializer(serializers.Serializer):
    lines = LogLineSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as ?after= to get the lines that follow.")
    run_status = serializers.ChoiceField(
        choices=RunStatus.choices, help_text="The run's status when the page was read."
    )
    complete = serializers.BooleanField(help_text="True once the run has ended and every line was returned.")


class RunConflictDetailSerializer(ErrorDetailSerializer):
    run_status = serializers.ChoiceField(
        choices=RunStatus.choices, help_text="The run's status when the action was refused: what to act on next."
    )


class RunConflictSerializer(serializers.Serializer):
    """The standard error with the run's status: a cancel or retry the run's state refuses (a 409)."""

    error = RunConflictDetailSerializer()


class MetricPointSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="The run's order of recording, from 1.")
    step = serializers.CharField(source="step__name", help_text="The step that recorded it.")
    name = serializers.CharField()
    value = serializers.FloatField()
    step_index = serializers.IntegerField(allow_null=True, help_text="Its place in a series (log_metric's step=).")
    at = serializers.DateTimeField()


class ComparedRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    pipeline = serializers.CharField()
    code_version = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    duration_seconds = serializers.FloatField(allow_null=True)


class ComparedRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    values = serializers.ListField(child=serializers.JSONField(allow_null=True), help_text="One per run, in order.")
    differs = serializers.BooleanField(help_text="The runs disagree (step durations: by more than 10%).")


class ComparedStepSerializer(ComparedRowSerializer):
    statuses = serializers.ListField(child=serializers.CharField(allow_null=True))


class ComparisonSerializer(serializers.Serializer):
    runs = ComparedRunSerializer(many=True)
    params = ComparedRowSerializer(many=True)
    metrics = ComparedRowSerializer(many=True, help_text="Each run's last value of each metric.")
    steps = ComparedStepSerializer(many=True, help_text="Step durations in seconds, and the steps' states.")


class ChartedRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField()


class MetricSeriesSerializer(serializers.Serializer):
    runs = ChartedRunSerializer(many=True, help_text="Runs that recorded metrics, oldest first.")
    metrics = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="Each metric's last value in each run, in the order of `runs` (null where it recorded none).",
    )
