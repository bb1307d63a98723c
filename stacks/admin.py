from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.forms.fields import InvalidJSONInput, JSONString
from django.http import HttpRequest

from flowsite import strict_json

from .models import Stack, too_short_to_mask
from .registry import ConfigError, parse_config


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value: secrets typed into a form that is shown again must be typed again."""

    def format_value(self, value: Any) -> None:
        return None


class StorableJSONField(forms.JSONField):
    """A JSON box that takes only what the database can store (flowsite.strict_json): anything else is the
    form's error, never a 500 (a RecursionError for deep nesting, a DataError for a NUL on PostgreSQL)."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value not in self.empty_values and not self.disabled:
            data = _storable_json(value)
            return JSONString(data) if isinstance(data, str) else data
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return _storable_json(data)
        except forms.ValidationError:
            return InvalidJSONInput(data)


def _storable_json(text: str) -> Any:
    try:
        data = strict_json.loads(text)
    except ValueError as exc:
        raise forms.ValidationError(f"Not JSON that can be stored: {exc}") from None
    problem = strict_json.unstorable(data)
    if problem:
        raise forms.ValidationError(f"Not JSON that can be stored: it holds {problem}")
    return data


class StackForm(forms.ModelForm):
    """Config is checked against the kind's schema; secrets can be replaced but are never shown."""

    new_secrets = forms.CharField(
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        label="Set secrets",
        help_text='JSON object of names to values, e.g. {"API_TOKEN": "..."}. Replaces the named secrets; '
        "a value of null removes one. Leave empty to keep the secrets as they are. Values are never shown back, "
        "not even when the form has to be corrected.",
    )

    class Meta:
        model = Stack
        fields = ["name", "kind", "description", "config", "is_default", "open_to_all_projects", "projects"]
        field_classes = {"config": StorableJSONField}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, config = cleaned.get("kind"), cleaned.get("config")
        if kind:
            try:
                cleaned["config"] = parse_config(kind, config if config is not None else {}).model_dump(
                    exclude_unset=True
                )
            except ConfigError as exc:
                for field, reason in exc.errors.items():
                    self.add_error("config" if field != "kind" else "kind", f"{field}: {reason}")
        raw = cleaned.get("new_secrets", "").strip()
        if raw:
            try:
                updates = _storable_json(raw)
            except forms.ValidationError as exc:
                self.add_error("new_secrets", exc)
                return cleaned
            if not isinstance(updates, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in updates.items()
            ):
                self.add_error("new_secrets", "must be a JSON object of names to string values (or null to remove)")
            elif problem := too_short_to_mask(updates):
                self.add_error("new_secrets", problem)
            else:
                cleaned["secret_updates"] = updates
        return cleaned

    def save(self, commit: bool = True) -> Stack:
        stack = super().save(commit=False)
        secrets = dict(stack.secrets or {})
        for name, value in self.cleaned_data.get("secret_updates", {}).items():
            if value is None:
                secrets.pop(name, None)
            else:
                secrets[name] = value
        stack.secrets = secrets
        if commit:
            stack.save()
            self.save_m2m()
        return stack


@admin.register(Stack)
class StackAdmin(admin.ModelAdmin):
    form = StackForm
    list_display = ["name", "kind", "is_default", "granted_to", "secret_list", "updated_at"]
    list_filter = ["kind", "is_default", "open_to_all_projects"]
    search_fields = ["name", "description"]
    readonly_fields = ["secret_list", "created_at", "updated_at"]
    fields = [
        "name", "kind", "description", "config", "is_default", "open_to_all_projects", "projects", "secret_list",
        "new_secrets",
    ]  # fmt: skip
    filter_horizontal = ["projects"]
    actions = ["validate_stacks"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("projects")

    @admin.display(description="Granted to")
    def granted_to(self, stack: Stack) -> str:
        if stack.open_to_all_projects:
            return "every project"
        return ", ".join(project.slug for project in stack.projects.all()) or "no project"

    @admin.display(description="Secrets set")
    def secret_list(self, stack: Stack) -> str:
        return ", ".join(stack.secret_names()) or "none"

    @admin.action(description="Validate the selected stacks")
    def validate_stacks(self, request: HttpRequest, queryset: Any) -> None:
        for stack in queryset:
            problem = stack.validation_problem()
            if problem:
                self.message_user(request, f"{stack.name}: {problem}", messages.ERROR)
            else:
                self.message_user(request, f"{stack.name}: ready", messages.SUCCESS)
