"""Schedules in the admin: checked as the API checks them, next fire times shown, pause and resume actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from schedules.models import Schedule
from tests.factories import make_stack

pytestmark = pytest.mark.django_db

ADD = "/admin/schedules/schedule/add/"
LIST = "/admin/schedules/schedule/"


@pytest.fixture
def site(client: Any) -> Any:
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def form(ready, stack, **changes: Any) -> dict[str, Any]:
    data = {
        "project": ready.pk, "pipeline": "greeting", "stack": stack.pk, "params": '{"name": "admin"}',
        "cron": "15 3 * * *", "timezone": "Europe/Berlin", "overlap": "skip", "catch_up": "once",
        "fires-TOTAL_FORMS": "0", "fires-INITIAL_FORMS": "0", "fires-MIN_NUM_FORMS": "0", "fires-MAX_NUM_FORMS": "0",
    }  # fmt: skip
    return {**data, **changes}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"cron": "15 3 * *"}, "has 4 fields"),
        ({"timezone": "Europe/Atlantis"}, "unknown time zone"),
        ({"pipeline": "nope"}, "unknown pipeline"),
        ({"params": '{"name": 3}'}, "params.name: must be of type string"),
    ],
)
def test_a_bad_schedule_is_refused_on_its_field(site, ready, stack, changes, says):
    response = site.post(ADD, form(ready, stack, **changes))
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not Schedule.objects.exists()


def test_a_stack_not_granted_is_refused(site, ready, stack):
    gpu = make_stack("gpu", is_default=False, open_to_all_projects=False)
    response = site.post(ADD, form(ready, gpu))
    assert "is not granted to project" in response.content.decode()
    assert not Schedule.objects.exists()


def test_adding_shows_the_next_fire_times_and_the_actions_pause_and_resume(site, ready, stack):
    response = site.post(ADD, form(ready, stack))
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = Schedule.objects.get()
    assert schedule.next_fire_at is not None and schedule.created_by.username == "root"
    page = site.get(f"{LIST}{schedule.pk}/change/").content.decode()
    times = [at.isoformat() for at in schedule.next_fire_times()]
    assert all(at in page for at in times) and times[0].endswith(("T03:15:00+01:00", "T03:15:00+02:00"))
    site.post(LIST, {"action": "pause", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert (schedule.paused, schedule.next_fire_at) == (True, None)
    assert "none: paused" in site.get(f"{LIST}{schedule.pk}/change/").content.decode()
    site.post(LIST, {"action": "resume", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert not schedule.paused and schedule.next_fire_at == schedule.next_fire_times()[0]
