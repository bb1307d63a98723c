"""Create what a newcomer needs to look around: an admin account. Safe to run again."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo admin user (FLOWSITE_DEMO_USER / FLOWSITE_DEMO_PASSWORD) if it does not exist."

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
            self.stdout.write(f"The demo admin {username!r} exists already (its password was {password!r} when created).")
