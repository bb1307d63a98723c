from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from .dispatch import start_delivery_loop
from .models import Channel, Delivery, Event, NotificationRule


class RuleForm(forms.ModelForm):
    """The same checks as the API (NotificationRule.problems); secrets can be replaced but are never shown."""

    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)
    recipients_text = forms.CharField(
        required=False, label="Recipients", help_text="Email channel: addresses, one per line or comma-separated.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip
    new_signing_secret = forms.CharField(
        required=False, label="Set signing secret", widget=forms.PasswordInput(render_value=False),
        help_text="Webhook channel: whsec_ and the base64 of 24 to 64 random bytes. Empty keeps the current one.",
    )  # fmt: skip
    new_slack_url = forms.CharField(
        required=False, label="Set Slack URL", widget=forms.PasswordInput(render_value=False),
        help_text="Slack channel: the incoming webhook URL. Leave empty to keep the current one.",
    )  # fmt: skip

    class Meta:
        model = NotificationRule
        fields = ["project", "name", "enabled", "events", "running_minutes", "channel", "url"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["recipients_text"] = "\n".join(self.instance.recipients)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        rule = self.instance
        rule.recipients = [
            a.strip() for a in cleaned.get("recipients_text", "").replace(",", "\n").splitlines() if a.strip()
        ]
        secrets = dict(rule.secrets)
        if cleaned.get("new_signing_secret"):
            secrets["signing_secret"] = cleaned["new_signing_secret"].strip()
        if cleaned.get("new_slack_url"):
            secrets["slack_url"] = cleaned["new_slack_url"].strip()
        keep = {Channel.WEBHOOK: "signing_secret", Channel.SLACK: "slack_url"}.get(cleaned.get("channel"))
        rule.secrets = {name: value for name, value in secrets.items() if name == keep}
        for field in ("events", "running_minutes", "channel", "url"):
            if field in cleaned:
                setattr(rule, field, cleaned[field])
        names = {"recipients": "recipients_text", "signing_secret": "new_signing_secret", "slack_url": "new_slack_url"}
        for field, reason in rule.problems().items():
            if names.get(field, field) in self.fields:
                self.add_error(names.get(field, field), reason)
        return cleaned


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "project", "channel", "events", "enabled", "updated_at"]
    list_filter = ["channel", "enabled", "project"]
    search_fields = ["name", "project__slug"]
    readonly_fields = ["secrets_set", "created_by", "created_at", "updated_at"]

    @admin.display(description="Secrets set")
    def secrets_set(self, rule: NotificationRule) -> str:
        return ", ".join(rule.secret_names()) or "none"

    def save_model(self, request: HttpRequest, obj: NotificationRule, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "rule",
        "run",
        "event",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
    ]
    list_filter = ["status", "event", "rule__channel"]
    search_fields = ["rule__name", "project__slug", "=run__id"]
    list_select_related = ["rule", "run", "run__pipeline"]
    actions = ["resend"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Resend the selected deliveries", permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        sent = sum(delivery.resend() for delivery in queryset)
        if sent:
            transaction.on_commit(start_delivery_loop, robust=True)
        messages.success(request, f"{sent} deliveries queued to send again.")
