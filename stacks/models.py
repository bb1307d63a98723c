from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q

from .encryption import EncryptedSecretsField
from .registry import KINDS, ConfigError, kind_choices, parse_config

# Every text a run stores has the stack's secrets masked; a shorter value would mask ordinary words.
MIN_SECRET_LENGTH = 4


def too_short_to_mask(secrets: Mapping[str, str | None]) -> str:
    """What is wrong with secret values too short to mask, or "" (a None value removes a secret)."""
    short = sorted(name for name, value in secrets.items() if value is not None and len(value) < MIN_SECRET_LENGTH)
    if not short:
        return ""
    return f"{', '.join(short)}: too short to be masked in what runs store (at least {MIN_SECRET_LENGTH} characters)"


class StackQuerySet(models.QuerySet["Stack"]):
    def granted_to(self, project: Any) -> StackQuerySet:
        """The stacks `project` may run on: those granted to it and those open to every project."""
        return self._open_or_granted(Stack.projects.through.objects.filter(project=project))

    def visible_to(self, user: Any) -> StackQuerySet:
        """Who may see every stack sees them all (as in the admin); anyone else, those their projects may use."""
        if can_see_all_stacks(user):
            return self
        if not user.is_authenticated:
            return self.none()
        return self._open_or_granted(Stack.projects.through.objects.filter(project__memberships__user=user))

    def _open_or_granted(self, grants: models.QuerySet[Any]) -> StackQuerySet:
        return self.filter(Q(open_to_all_projects=True) | Q(pk__in=grants.values("stack_id")))


def can_see_all_stacks(user: Any) -> bool:
    """The admin's rule for opening the stack pages: staff with the permission to view or change stacks."""
    return bool(
        user.is_authenticated
        and user.is_staff
        and (user.has_perm("stacks.view_stack") or user.has_perm("stacks.change_stack"))
    )


class Stack(models.Model):
    """Where runs execute: a kind from the registry and its config. Secrets are write-only.

    A project runs only on the stacks staff granted to it (or that are open to every project): a
    stack can hold production credentials that not every project's members should use.
    """

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=kind_choices())
    description = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedSecretsField(
        default=dict, blank=True, help_text="Write-only: never shown back; encrypted at rest."
    )
    is_default = models.BooleanField(default=False)
    projects = models.ManyToManyField(
        "accounts.Project",
        blank=True,
        related_name="granted_stacks",
        verbose_name="granted to",
        help_text="The projects that may run on this stack.",
    )
    open_to_all_projects = models.BooleanField(
        default=False, help_text="Every project may run on this stack, including projects created later."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StackQuerySet.as_manager()

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
        if problem := too_short_to_mask(self.secrets):
            raise ValidationError({"secrets": problem})

    def validate_constraints(self, exclude: Any = None) -> None:
        # Making this stack the default is allowed: save() hands the flag over from the old default.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            if self.is_default:
                Stack.objects.filter(is_default=True).exclude(pk=self.pk).update(is_default=False)
            super().save(*args, **kwargs)

    def is_granted_to(self, project: Any) -> bool:
        return self.open_to_all_projects or self.projects.filter(pk=project.pk).exists()

    def secret_names(self) -> list[str]:
        return sorted(self.secrets)

    def job_secrets(self) -> dict[str, str]:
        """The secrets a run's code is given: all but those the kind keeps to the control plane (a cloud key)."""
        kept = getattr(KINDS[self.kind].load_orchestrator(), "control_plane_secrets", None)
        private = kept(parse_config(self.kind, self.config)) if kept else set()
        return {name: value for name, value in self.secrets.items() if name not in private}

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
