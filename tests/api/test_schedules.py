"""/api/schedules/: roles, validation (each bad field a 400 naming it), grants, pause and resume, next fire times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from runs.models import Run
from schedules.models import Schedule
from tests.factories import make_stack

from .helpers import error

pytestmark = pytest.mark.django_db

BODY = {
    "project": "ml",
    "pipeline": "greeting",
    "params": {"name": "cron"},
    "cron": "0 9 * * 1-5",
    "timezone": "Europe/Paris",
}
WRITERS = [("owner", 201), ("member", 201), ("viewer", 403), ("outsider", 400), ("anonymous", 401)]


@pytest.fixture
def schedule(ready, owner, stack) -> Schedule:
    made = Schedule.objects.create(
        project=ready, pipeline="greeting", stack=stack, cron="*/5 * * * *", created_by=owner
    )
    made.plan()
    made.save()
    return made


@pytest.mark.parametrize(("who", "status"), WRITERS)
def test_creating_a_schedule(as_, ready, other_project, who, status):
    response = as_(who).post("/api/schedules/", BODY, format="json")
    assert response.status_code == status, response.content
    if status != 201:
        assert not Schedule.objects.exists()
        return
    body = response.json()
    assert (body["project"], body["pipeline"], body["stack"], body["params"]) == (
        "ml",
        "greeting",
        "local",
        {"name": "cron"},
    )
    assert (body["cron"], body["timezone"], body["paused"], body["overlap"], body["catch_up"]) == (
        "0 9 * * 1-5", "Europe/Paris", False, "skip", "skip"
    )  # fmt: skip
    times = [datetime.fromisoformat(t) for t in body["next_fire_times"]]
    assert len(times) == 5 and times == sorted(times) and times[0] > timezone.now()
    # Nine o'clock on weekdays in Paris, whatever the offset of the day.
    assert all(
        (t.hour, t.minute, t.weekday() < 5, t.utcoffset() in (timedelta(hours=1), timedelta(hours=2)))
        == (9, 0, True, True)
        for t in times
    )
    assert datetime.fromisoformat(body["next_fire_at"]) == times[0]
    assert body["created_by"] == {"owner": "olivia", "member": "marco"}[who]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"cron": "every day"}, "cron", "has 2 fields"),
        ({"cron": "61 * * * *"}, "cron", "not a valid cron expression"),
        ({"cron": "0 0 31 2 *"}, "cron", "not a valid cron expression"),
        ({"cron": ""}, "cron", "may not be blank"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "localtime"}, "timezone", "unknown time zone"),
        ({"pipeline": "nope"}, "pipeline", "unknown pipeline 'nope'"),
        ({"stack": "nowhere"}, "stack", "unknown stack 'nowhere'"),
        ({"params": {"name": 5}}, "params.name", "must be of type string"),
        ({"params": {"colour": "red"}}, "params.colour", "takes no parameter 'colour'"),
        ({"params": [1]}, "params", "Expected a dictionary"),
        ({"overlap": "sometimes"}, "overlap", "not a valid choice"),
        ({"catch_up": "all"}, "catch_up", "not a valid choice"),
        ({"project": ""}, "project", "required"),
    ],
)
def test_a_bad_schedule_is_a_400_naming_the_field(as_, ready, change, field, says):
    response = as_("member").post("/api/schedules/", {**BODY, **change}, format="json")
    assert response.status_code == 400, response.content
    assert says in error(response)["fields"][field]
    assert not Schedule.objects.exists()


def test_a_stack_not_granted_to_the_project_is_refused(as_, ready):
    make_stack("gpu", is_default=False, open_to_all_projects=False)
    response = as_("member").post("/api/schedules/", {**BODY, "stack": "gpu"}, format="json")
    assert response.status_code == 403
    assert "stack 'gpu' is not granted to project 'ml'" in error(response)["fields"]["stack"]


READERS = [("owner", 200), ("member", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]


@pytest.mark.parametrize(("who", "status"), READERS)
def test_reading_schedules(as_, schedule, other_project, who, status):
    client = as_(who)
    response = client.get(f"/api/schedules/{schedule.pk}/")
    assert response.status_code == status
    listed = client.get("/api/schedules/")
    if who == "anonymous":
        assert listed.status_code == 401
        return
    assert [s["id"] for s in listed.json()] == ([] if who == "outsider" else [schedule.pk])
    if status == 200:
        assert len(response.json()["next_fire_times"]) == 5
        assert [f for f in client.get(f"/api/schedules/{schedule.pk}/fires/").json()] == []


def test_the_list_filters_on_project_and_pipeline(as_, schedule):
    client = as_("viewer")
    assert [s["id"] for s in client.get("/api/schedules/", {"project": "ml", "pipeline": "greeting"}).json()] == [
        schedule.pk
    ]
    assert client.get("/api/schedules/", {"pipeline": "arithmetic"}).json() == []
    assert client.get("/api/schedules/", {"project": "lab"}).json() == []


ACTORS = [("owner", 200), ("member", 200), ("viewer", 403), ("outsider", 404), ("anonymous", 401)]


@pytest.mark.parametrize(("who", "status"), ACTORS)
def test_pausing_and_resuming(as_, schedule, other_project, who, status):
    client = as_(who)
    paused = client.post(f"/api/schedules/{schedule.pk}/pause/")
    assert paused.status_code == status
    schedule.refresh_from_db()
    if status != 200:
        assert (schedule.paused, schedule.next_fire_at is not None) == (False, True)
        return
    assert (paused.json()["paused"], paused.json()["next_fire_at"], paused.json()["next_fire_times"]) == (
        True,
        None,
        [],
    )
    assert (schedule.paused, schedule.next_fire_at) == (True, None)
    assert client.post(f"/api/schedules/{schedule.pk}/pause/").json()["paused"] is True  # again: no change
    resumed = client.post(f"/api/schedules/{schedule.pk}/resume/").json()
    schedule.refresh_from_db()
    assert resumed["paused"] is False and len(resumed["next_fire_times"]) == 5
    assert schedule.next_fire_at > timezone.now() and schedule.next_fire_at.minute % 5 == 0


@pytest.mark.parametrize(("who", "status"), ACTORS)
def test_editing_and_deleting(as_, schedule, other_project, who, status):
    client = as_(who)
    before = schedule.next_fire_at
    edited = client.patch(f"/api/schedules/{schedule.pk}/", {"params": {"name": "edited"}}, format="json")
    assert edited.status_code == status
    schedule.refresh_from_db()
    if status != 200:
        assert schedule.params == {}
        assert client.delete(f"/api/schedules/{schedule.pk}/").status_code == status
        assert Schedule.objects.filter(pk=schedule.pk).exists()
        return
    # Parameters changed, the time did not: the due time stands.
    assert (schedule.params, schedule.next_fire_at) == ({"name": "edited"}, before)
    retimed = client.patch(
        f"/api/schedules/{schedule.pk}/", {"cron": "30 6 * * *", "timezone": "Asia/Tokyo"}, format="json"
    )
    assert retimed.status_code == 200, retimed.content
    first = datetime.fromisoformat(retimed.json()["next_fire_times"][0])
    assert (first.hour, first.minute, first.utcoffset()) == (6, 30, timedelta(hours=9))
    schedule.refresh_from_db()
    assert schedule.next_fire_at == first
    bad = client.patch(f"/api/schedules/{schedule.pk}/", {"timezone": "Nowhere/Land"}, format="json")
    assert bad.status_code == 400 and "timezone" in error(bad)["fields"]
    moved = client.patch(f"/api/schedules/{schedule.pk}/", {"project": "lab"}, format="json")
    assert moved.status_code == 400 and "stays in its project" in error(moved)["fields"]["project"]
    assert client.delete(f"/api/schedules/{schedule.pk}/").status_code == 204
    assert not Schedule.objects.filter(pk=schedule.pk).exists()


def test_a_run_a_schedule_started_names_it(as_, schedule):
    from schedules.firing import fire_due

    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=timezone.now())
    [fire] = fire_due()
    run = Run.objects.get()
    body = as_("viewer").get(f"/api/runs/{run.pk}/").json()
    assert body["schedule"]["id"] == schedule.pk
    assert datetime.fromisoformat(body["schedule"]["fire_at"]) == fire.fire_at
    fires = as_("viewer").get(f"/api/schedules/{schedule.pk}/fires/").json()
    assert [(f["outcome"], f["run"]) for f in fires] == [("started", run.pk)]
    triggered = Run.objects.trigger(project=schedule.project, pipeline="greeting")
    assert as_("viewer").get(f"/api/runs/{triggered.pk}/").json()["schedule"] is None
