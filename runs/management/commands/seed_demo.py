"""Create what a newcomer needs to look around. Safe to run again."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import Membership, Project, Role
from runs.models import Run
from runs.registry import sync_pipelines
from runs.triggering import trigger_run
from stacks.models import Stack

DEMO_PIPELINE = "churn-model"


class Command(BaseCommand):
    help = (
        "Create the demo admin (FLOWSITE_DEMO_USER / FLOWSITE_DEMO_PASSWORD), a demo project, "
        "a default local stack, record the pipelines and queue a first demo run."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("FLOWSITE_DEMO_USER", "admin")
        password = os.environ.get("FLOWSITE_DEMO_PASSWORD", "flowsite")
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True, "email": f"{username}@localhost"}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Created the demo admin: sign in as {username!r} with password {password!r}.")
        else:
            self.stdout.write(
                f"The demo admin {username!r} exists already (its password was {password!r} when created)."
            )
        project, _ = Project.objects.get_or_create(
            slug="demo", defaults={"name": "Demo", "description": "Example pipelines to try Flowsite with."}
        )
        Membership.objects.get_or_create(user=user, project=project, defaults={"role": Role.OWNER})
        if not Stack.objects.exists():
            # Open to every project, so a project made on the portal can run at once; staff grant other stacks.
            Stack.objects.create(
                name="local",
                kind="local",
                is_default=True,
                open_to_all_projects=True,
                description="This machine's workers.",
            )
        definitions = sync_pipelines()
        if any(d.name == DEMO_PIPELINE for d in definitions) and not Run.objects.filter(project=project).exists():
            # Something to look at on first sign-in; the worker runs it as soon as it starts.
            run = trigger_run(project=project, pipeline=DEMO_PIPELINE, user=user)
            self.stdout.write(f"Queued a first {DEMO_PIPELINE} run (#{run.pk}) for the portal to show.")
        names = ", ".join(d.name for d in definitions) or "none"
        self.stdout.write(f"Project 'demo', stack '{Stack.default() or 'none'}', pipelines: {names}.")
