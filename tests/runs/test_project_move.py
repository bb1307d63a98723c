"""Projects and memberships moved from runs to accounts (accounts 0003, runs 0017): an existing
deployment keeps its projects, members, runs, stack grants and admin permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Membership, Project, Role
from runs.models import Run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MOVE = ("accounts", "0003_project_membership_from_runs")


def test_projects_members_and_their_runs_survive_the_move_to_accounts():
    executor = MigrationExecutor(connection)
    move = executor.loader.get_migration(*MOVE)
    # Every app just before the move: the move's own dependencies and each app's migration before its own step.
    before = [dep for dep in move.dependencies if dep[0] in {"accounts", "runs"}] + [
        ("schedules", "0001_schedules_and_their_fires"),
        ("notifications", "0002_check_schedule"),
        ("stacks", "0004_stack_grants"),
    ]
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        user = old.get_model("auth", "User").objects.create(username="alice", is_staff=True)
        change_project = old.get_model("auth", "Permission").objects.get(
            content_type__app_label="runs", codename="change_project"
        )
        user.user_permissions.add(change_project)
        project = old.get_model("runs", "Project").objects.create(slug="churn", name="Churn")
        old.get_model("runs", "Membership").objects.create(user=user, project=project, role="owner")
        stack = old.get_model("stacks", "Stack").objects.create(name="s", kind="local")
        stack.projects.add(project)
        pipeline = old.get_model("runs", "PipelineDef").objects.create(name="greeting", module="m", code_version="v")
        run = old.get_model("runs", "Run").objects.create(project=project, pipeline=pipeline, stack=stack)

        MigrationExecutor(connection).migrate([("runs", "0017_project_membership_to_accounts")])

        moved = Project.objects.get(slug="churn")
        assert moved.pk == project.pk and moved.name == "Churn"
        alice = get_user_model().objects.get(username="alice")
        assert Membership.objects.get(project=moved).user == alice
        assert Membership.objects.get(project=moved).role == Role.OWNER
        assert Run.objects.get(pk=run.pk).project == moved
        assert list(moved.granted_stacks.values_list("name", flat=True)) == ["s"]
        assert alice.has_perm("accounts.change_project"), "the admin permission granted on projects was lost"
        # New projects take ids after the old ones: the table and its sequence are the same.
        assert Project.objects.create(slug="new", name="New").pk > moved.pk
    finally:
        # Back to the latest schema, which the tests after this one use.
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
