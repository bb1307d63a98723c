"""Schedules in the admin: checked as the API checks them, with the next fire times shown; pause and resume."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from runs.triggering import TriggerError, check_request

from . import cron
from .models import Schedule, ScheduleFire


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ["project", "pipeline", "stack", "params", "cron", "timezone", "paused", "overlap", "catch_up"]
        help_texts = {
            "cron": "minute hour day-of-month month day-of-week, and optionally seconds as a sixth field.",
            "timezone": "An IANA time zone, such as Europe/Paris or UTC.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        project, pipeline = data.get("project"), data.get("pipeline")
        if project is not None and pipeline:
            try:
                check_request(project, pipeline, data.get("stack"), data.get("params"))
            except TriggerError as exc:  # StackNotGranted too: staff see the same words as the API's 403
                for name, reason in exc.errors.items():
                    field = name.split(".", 1)[0]
                    self.add_error(
                        field if field in self.fields else None, f"{name}: {reason}" if "." in name else reason
                    )
        if data.get("cron") and data.get("timezone"):
            try:
                data["cron"] = " ".join(data["cron"].split())
                cron.next_after(data["cron"], data["timezone"], timezone.now())
            except cron.CronError as exc:
                self.add_error(exc.field, str(exc))
        return data


class ScheduleFireInline(admin.TabularInline):
    model = ScheduleFire
    fields = ["fire_at", "fired_at", "fired_by", "outcome", "run", "note"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-fire_at"]
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduleFire]:
        return super().get_queryset(request).select_related("run")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["id", "project", "pipeline", "cron", "timezone", "paused", "next_fire_at"]
    list_filter = ["paused", "project"]
    search_fields = ["pipeline", "project__slug"]
    readonly_fields = ["next_fire_times", "created_by", "created_at"]
    actions = ["pause", "resume"]
    inlines = [ScheduleFireInline]

    @admin.display(description="Next fire times")
    def next_fire_times(self, schedule: Schedule) -> str:  # one per line, each escaped
        if schedule.pk is None:
            return "shown once saved"
        if schedule.paused:
            return "none: paused"
        return format_html_join(mark_safe("<br>"), "{}", ((at.isoformat(),) for at in schedule.next_fire_times()))

    def save_model(self, request: HttpRequest, schedule: Schedule, form: Any, change: bool) -> None:
        if not change:
            schedule.created_by = request.user
        if not change or {"cron", "timezone", "paused"} & set(form.changed_data):
            schedule.plan()
            super().save_model(request, schedule, form, change)
        else:
            # Only what changed: saving every field would write back the due time read before a scheduler
            # moved it on.
            schedule.save(update_fields=form.changed_data)

    @admin.action(description="Pause the selected schedules")
    def pause(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        paused = sum(schedule.pause() for schedule in queryset)
        self.message_user(request, f"Paused {paused} schedule(s).", messages.SUCCESS)

    @admin.action(description="Resume the selected schedules")
    def resume(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        resumed = sum(schedule.resume() for schedule in queryset)
        self.message_user(request, f"Resumed {resumed} schedule(s).", messages.SUCCESS)
