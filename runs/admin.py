from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from flowsite import strict_json

from .models import Artifact, CacheEntry, LogLine, PipelineDef, Run, RunEvent, RunStateError, StepRun
from .parameters import resolve_params
from .triggering import TriggerError, stack_for, trigger_run

RECENT_LOG_LINES = 200


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PipelineDef)
class PipelineDefAdmin(admin.ModelAdmin):
    list_display = ["name", "code_version", "module", "created_at"]
    list_filter = ["name"]
    search_fields = ["name", "module", "code_version"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StepRunInline(ReadOnlyInline):
    model = StepRun
    fields = ["name", "group", "status", "attempts", "cached", "skipped", "started_at", "duration_seconds", "error"]
    readonly_fields = fields


class RunEventInline(ReadOnlyInline):
    model = RunEvent
    fields = ["at", "step", "old_status", "new_status", "reason", "actor"]
    readonly_fields = fields


class ArtifactInline(ReadOnlyInline):
    model = Artifact
    fields = ["step", "name", "type", "size", "digest", "uri"]
    readonly_fields = fields


class TriggerRunForm(forms.ModelForm):
    """The admin's "Add run": pick what to run; the run is created by the same path as the API's."""

    pipeline_name = forms.ChoiceField(label="Pipeline")
    params_json = forms.CharField(
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Parameters",
        help_text="A JSON object; defaults fill the rest.",
    )

    class Meta:
        model = Run
        fields = ["project", "stack"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = sorted(set(PipelineDef.objects.values_list("name", flat=True)))
        self.fields["pipeline_name"].choices = [(n, n) for n in names]
        self.fields["stack"].required = False
        self.fields["stack"].help_text = "Leave empty for the default stack."

    def clean_params_json(self) -> Any:
        text = self.cleaned_data.get("params_json") or ""
        if not text.strip():
            return {}
        try:
            return strict_json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON that can be stored: {exc}") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        name = cleaned.get("pipeline_name")
        definition = PipelineDef.objects.filter(name=name).order_by("-created_at", "-id").first()
        if definition is not None:
            _, errors = resolve_params(definition.parameters, cleaned.get("params_json") or {})
            for param, reason in errors.items():
                self.add_error("params_json", f"{param}: {reason}")
        if cleaned.get("project") is not None:
            try:
                stack_for(cleaned["project"], cleaned.get("stack"))
            except TriggerError as exc:
                self.add_error("stack", exc.errors["stack"])
        return cleaned

    def trigger(self, user: Any) -> Run:
        data = self.cleaned_data
        return trigger_run(
            project=data["project"],
            pipeline=data["pipeline_name"],
            stack=data.get("stack"),
            params=data.get("params_json") or {},
            user=user,
        )


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "pipeline_name", "project", "stack", "status", "triggered_by", "created_at", "duration"]
    list_filter = ["status", "project", "pipeline__name", "stack", "created_at"]
    list_select_related = ["pipeline", "project", "stack", "triggered_by"]
    search_fields = ["=id", "pipeline__name", "failure_message"]
    date_hierarchy = "created_at"
    actions = ["cancel_runs", "retry_runs"]
    inlines = [StepRunInline, RunEventInline, ArtifactInline]
    readonly_fields = [
        "project", "pipeline", "stack", "status", "params", "triggered_by", "created_at", "started_at",
        "finished_at", "heartbeat_at", "cancel_requested_at", "cancelled_by", "failure_reason",
        "failure_message", "worker_host", "worker_pid", "process_group", "task_id", "remote_job_name",
        "remote_console_url", "uid", "retry_of", "idempotency_key", "recent_logs",
    ]  # fmt: skip

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = TriggerRunForm
            kwargs["fields"] = ["project", "pipeline_name", "stack", "params_json"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["project", "pipeline_name", "stack", "params_json"]
        return self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj is not None else []

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        if change:
            return super().save_form(request, form, change)
        try:
            return form.trigger(request.user)
        except TriggerError as exc:
            # Validated in the form; a stack or pipeline removed meanwhile lands here.
            raise forms.ValidationError(str(exc)) from None

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Run history is a record, not a form: only the actions change a run.
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="Pipeline", ordering="pipeline__name")
    def pipeline_name(self, run: Run) -> str:
        return run.pipeline.name

    @admin.display(description="Duration")
    def duration(self, run: Run) -> str:
        seconds = run.duration_seconds
        return "" if seconds is None else f"{seconds:.1f} s"

    @admin.display(description=f"Last {RECENT_LOG_LINES} log lines")
    def recent_logs(self, run: Run) -> str:
        lines = list(LogLine.objects.filter(run=run).order_by("-seq")[:RECENT_LOG_LINES])[::-1]
        if not lines:
            return "No log lines yet."
        body = format_html_join("\n", "{} [{}] {}", ((line.seq, line.step or "run", line.text) for line in lines))
        return format_html('<pre style="max-height:30em;overflow:auto;white-space:pre-wrap">{}</pre>', body)

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for run in queryset:
            try:
                run.cancel(by=request.user)
                self.message_user(request, f"Run {run.pk}: {run.status}", messages.SUCCESS)
            except RunStateError as exc:
                self.message_user(request, str(exc), messages.WARNING)

    @admin.action(description="Retry the selected runs from their failure")
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for run in queryset.select_related("project", "pipeline", "stack"):
            try:
                new = run.retry(by=request.user)
                self.message_user(request, f"Run {run.pk}: retried as run {new.pk}", messages.SUCCESS)
            except (RunStateError, TriggerError) as exc:
                self.message_user(request, str(exc), messages.WARNING)


@admin.register(CacheEntry)
class CacheEntryAdmin(admin.ModelAdmin):
    list_display = ["step", "key", "code_hash", "created_at"]
    search_fields = ["step", "key"]
    readonly_fields = ["key", "step", "code_hash", "artifact", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LogLine)
class LogLineAdmin(admin.ModelAdmin):
    """Log lines are read on a run's page; here they can be looked up by run and step."""

    list_display = ["run", "seq", "step", "stream", "level", "text", "at"]
    list_filter = ["stream", "level"]
    search_fields = ["=run__id", "step"]
    list_select_related = ["run", "run__pipeline"]
    show_full_result_count = False
    readonly_fields = ["run", "seq", "step", "stream", "level", "text", "at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["run", "step", "name", "type", "size", "created_at"]
    search_fields = ["=run__id", "step", "name"]
    list_select_related = ["run", "run__pipeline"]
    readonly_fields = ["run", "step", "name", "uri", "size", "digest", "type", "created_at"]
    exclude = ["data"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
