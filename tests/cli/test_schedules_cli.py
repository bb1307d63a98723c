"""`python -m flowsite.cli schedules ...` as a real process against a live server on the test database."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from accounts.models import ApiToken, Membership, Role
from schedules.models import Schedule
from tests.factories import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_create_list_pause_resume_and_delete_a_schedule(cli, ready):
    made = cli(
        "schedules", "create", "greeting", "--project", "ml", "--cron", "30 7 * * *", "--timezone", "Asia/Tokyo",
        "--param", "name=morning", "--overlap", "queue", "--catch-up", "once", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    schedule = Schedule.objects.get(pk=body["id"])
    assert (schedule.cron, schedule.timezone, schedule.params, schedule.overlap, schedule.catch_up) == (
        "30 7 * * *", "Asia/Tokyo", {"name": "morning"}, "queue", "once"
    )  # fmt: skip
    times = [datetime.fromisoformat(t) for t in body["next_fire_times"]]
    assert [(t.hour, t.minute, t.utcoffset().total_seconds()) for t in times] == [(7, 30, 9 * 3600.0)] * 5

    listed = cli("schedules", "list", "--project", "ml")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "PROJECT", "PIPELINE", "STACK"]
    assert rows[0].split()[:10] == [str(schedule.pk), "ml", "greeting", "local", "30", "7", "*", "*", "*", "Asia/Tokyo"]
    assert body["next_fire_times"][0] in rows[0]

    paused = cli("schedules", "pause", str(schedule.pk))
    assert paused.returncode == 0 and "paused" in paused.stdout
    assert Schedule.objects.get(pk=schedule.pk).paused
    resumed = cli("schedules", "resume", str(schedule.pk))
    assert resumed.returncode == 0 and resumed.stdout.count("  next: ") == 5
    assert not Schedule.objects.get(pk=schedule.pk).paused

    deleted = cli("schedules", "delete", str(schedule.pk))
    assert (deleted.returncode, deleted.stdout.strip()) == (0, f"schedule {schedule.pk}: deleted")
    assert not Schedule.objects.exists()


def test_refusals_name_the_field_and_exit_2_or_4(cli, ready, live_server):
    bad = cli("schedules", "create", "greeting", "--project", "ml", "--cron", "0 25 * * *")
    assert bad.returncode == 2
    assert "the server refused (400): cron: is not a valid cron expression" in bad.stderr
    zone = cli("schedules", "create", "greeting", "--project", "ml", "--cron", "0 9 * * *", "--timezone", "Moon/Base")
    assert zone.returncode == 2 and "timezone: unknown time zone 'Moon/Base'" in zone.stderr
    viewer = make_user("vera")
    Membership.objects.create(project=ready, user=viewer, role=Role.VIEWER)
    as_viewer = cli("schedules", "create", "greeting", "--project", "ml", "--cron", "0 9 * * *",
                    token=ApiToken.issue(viewer, "t")[1])  # fmt: skip
    assert as_viewer.returncode == 4 and "viewers cannot create schedules" in as_viewer.stderr
    assert not Schedule.objects.exists()
