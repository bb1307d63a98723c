from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q

from .encryption import EncryptedSecretsField
from .registry import KINDS, ConfigError, kind_choices, parse_config


class Stack(models.Model):
    """Where runs execute: a kind from the registry and its config. Secrets are write-only."""

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=kind_choices())
    description = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedSecretsField(default=dict, blank=True, help_text="Write-only: never shown back; encrypted at rest.")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_stack"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.config = parse_config(self.kind, self.config).model_dump(exclude_unset=True)
        except ConfigError as exc:
            raise ValidationError({"config": [f"{field}: {reason}" for field, reason in exc.errors.items()]}) from None
        if not isinstance(self.secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.secrets.items()
        ):
            raise ValidationError({"secrets": "must be a JSON object of names to string values"})

    def validate_constraints(self, exclude: Any = None) -> None:
        # Making this stack the default is allowed: save() hands the flag over from the old default.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            if self.is_default:
                Stack.objects.filter(is_default=True).exclude(pk=self.pk).update(is_default=False)
            super().save(*args, **kwargs)

    def secret_names(self) -> list[str]:
        return sorted(self.secrets)

    def secret_values(self) -> list[str]:
        return [value for value in self.secrets.values() if value]

    def validation_problem(self) -> str:
        """Empty when runs can go to this stack; otherwise what stands in the way."""
        try:
            orchestrator = self.orchestrator()
            orchestrator.validate()
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return ""

    def orchestrator(self) -> Any:
        kind = KINDS[self.kind]
        return kind.load_orchestrator().for_stack(parse_config(self.kind, self.config), dict(self.secrets))

    @classmethod
    def default(cls) -> Stack | None:
        return cls.objects.filter(is_default=True).first()
