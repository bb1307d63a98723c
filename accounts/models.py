"""Who may do what: projects and their members' roles, and personal API tokens (shown once, stored as
a hash, revocable)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

PREFIX_LENGTH = 8
# Recording every use would make each API call a write; once a minute tells enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: Any, name: str, expires_at: Any = None) -> tuple[ApiToken, str]:
        """A new token and its key, which is shown this once and never stored."""
        prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        secret = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=prefix, key_hash=_hash(secret), expires_at=expires_at)
        return token, f"fs_{prefix}_{secret}"

    @classmethod
    def authenticate(cls, key: str) -> ApiToken | None:
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "fs" or len(parts[1]) != PREFIX_LENGTH:
            return None
        now = timezone.now()
        token = (
            cls.objects.select_related("user")
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), prefix=parts[1], revoked_at__isnull=True)
            .first()
        )
        if token is None or not hmac.compare_digest(token.key_hash, _hash(parts[2])):
            return None
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=self.revoked_at)


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Moved here from runs: the table keeps its name, so no row had to move.
        db_table = "runs_project"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        db_table = "runs_membership"
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.OWNER: 3}


def role_in(project: Project, user: Any) -> str | None:
    """The user's role in the project (superusers act as owners), or None for an outsider."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def has_role(project: Project, user: Any, at_least: str) -> bool:
    role = role_in(project, user)
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(at_least)]
