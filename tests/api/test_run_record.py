"""A run's record shown truly: step counts per outcome, cached steps with the run their output came
from (and its artifacts), and skipped steps with their reason."""

from __future__ import annotations

import pickle

import pytest

from runs.models import Artifact, Run, RunStatus, StepStatus
from tests.factories import make_run, make_step_run
from tests.runs.helpers import execute

from .helpers import add_member, error, trigger

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

READERS = [("owner", 200), ("member", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]
OUTCOMES = ("steps_completed", "steps_cached", "steps_skipped", "steps_failed", "steps_cancelled")


def counts(body: dict) -> dict[str, int]:
    return {name: body[name] for name in ("steps_total", "steps_done", *OUTCOMES)}


def ended(project, status: str, steps: list[tuple[str, str, str]]) -> Run:
    """A run of "arithmetic" that ended in `status` with these (name, status, error) steps."""
    run = make_run(project, "arithmetic", status)
    for name, step_status, error_text in steps:
        make_step_run(run, name, step_status, error=error_text)
    return run


@pytest.fixture
def mixed_failure(ready) -> Run:
    """A failed run of seven steps: every step ended, not every step succeeded."""
    return ended(ready, RunStatus.FAILED, [
        ("load", StepStatus.CACHED, ""),
        ("clean", StepStatus.COMPLETED, ""),
        ("split", StepStatus.COMPLETED, ""),
        ("report", StepStatus.SKIPPED, "Skipped: condition returned false"),
        ("fit", StepStatus.FAILED, "Traceback (most recent call last):\nValueError: bad input"),
        ("score", StepStatus.CANCELLED, "Not run: an earlier step failed"),
        ("publish", StepStatus.CANCELLED, "Not run: an earlier step failed"),
    ])  # fmt: skip


# --- step counts per outcome ---------------------------------------------------------------------

EXPECTED_COUNTS = {
    "steps_total": 7, "steps_done": 7, "steps_completed": 2, "steps_cached": 1, "steps_skipped": 1,
    "steps_failed": 1, "steps_cancelled": 2,
}  # fmt: skip


@pytest.mark.parametrize(("who", "status"), READERS)
def test_a_failed_runs_counts_name_each_outcome(as_, mixed_failure, other_project, who, status):
    client = as_(who)
    response = client.get(f"/api/runs/{mixed_failure.pk}/")
    assert response.status_code == status
    listing = client.get("/api/runs/")
    if status != 200:
        assert error(response)["code"] == {404: "not_found", 401: "not_authenticated"}[status]
        if who == "outsider":
            assert listing.json()["results"] == [], "the run is not theirs to count"
        return
    assert counts(response.json()) == EXPECTED_COUNTS
    assert [counts(r) for r in listing.json()["results"]] == [EXPECTED_COUNTS]
    history = client.get("/api/pipelines/arithmetic/runs/").json()["results"]
    assert [counts(r) for r in history] == [EXPECTED_COUNTS]


def test_a_queued_run_counts_nothing_done(as_, ready):
    run = trigger(ready, "arithmetic")
    body = as_("viewer").get(f"/api/runs/{run.pk}/").json()
    assert counts(body) == {"steps_total": 2, "steps_done": 0, **dict.fromkeys(OUTCOMES, 0)}


def test_the_run_list_counts_each_runs_own_steps(as_, ready):
    outcomes = [
        (RunStatus.FAILED, [StepStatus.COMPLETED, StepStatus.FAILED]),
        (RunStatus.CANCELLED, [StepStatus.CANCELLED, StepStatus.CANCELLED]),
        (RunStatus.COMPLETED, [StepStatus.CACHED, StepStatus.SKIPPED]),
    ]
    runs = [ended(ready, status, [("a", a, ""), ("b", b, "")]) for status, (a, b) in outcomes]
    results = as_("viewer").get("/api/runs/").json()["results"]
    by_id = {r["id"]: {name: r[name] for name in OUTCOMES if r[name]} for r in results}
    assert by_id == {
        runs[0].pk: {"steps_completed": 1, "steps_failed": 1},
        runs[1].pk: {"steps_cancelled": 2},
        runs[2].pk: {"steps_cached": 1, "steps_skipped": 1},
    }


# --- skipped steps say why -----------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), READERS)
@pytest.mark.parametrize("suffix", ["", "steps/"])
def test_a_skipped_step_gives_its_reason(as_, mixed_failure, other_project, who, status, suffix):
    response = as_(who).get(f"/api/runs/{mixed_failure.pk}/{suffix}")
    assert response.status_code == status
    if status != 200:
        return
    steps = {s["name"]: s for s in (response.json()["steps"] if suffix == "" else response.json())}
    assert (steps["report"]["status"], steps["report"]["skipped"]) == ("skipped", True)
    assert steps["report"]["error"] == "Skipped: condition returned false"
    assert steps["score"]["error"] == "Not run: an earlier step failed"
    assert steps["fit"]["error"].endswith("ValueError: bad input")
    assert steps["clean"]["error"] == ""
    assert all(s["cached_from_run"] is None for s in steps.values()), "no output came from another run"


# --- cached steps: the artifact and the run it came from -----------------------------------------


@pytest.fixture
def twice(transactional_db, ready, owner) -> tuple[Run, Run]:
    """The arithmetic pipeline run to completion, then again with the same parameters: fully cached."""
    first = execute(trigger(ready, "arithmetic", user=owner, n=5))
    second = execute(trigger(ready, "arithmetic", user=owner, n=5))
    assert (first.status, second.status) == (RunStatus.COMPLETED, RunStatus.COMPLETED)
    return first, second


@pytest.mark.parametrize(("who", "status"), READERS)
def test_a_cached_step_names_its_artifact_and_the_run_it_came_from(as_, twice, other_project, who, status):
    first, second = twice
    client = as_(who)
    response = client.get(f"/api/runs/{second.pk}/")
    assert response.status_code == status
    if status != 200:
        assert client.get(f"/api/runs/{second.pk}/steps/").status_code == status
        assert client.get(f"/api/runs/{second.pk}/artifacts/").status_code == status
        return
    body = response.json()
    sources = {a.step: a for a in Artifact.objects.filter(run=first)}
    assert set(sources) == {"produce", "add_up"}
    for steps in (body["steps"], client.get(f"/api/runs/{second.pk}/steps/").json()):
        assert [(s["name"], s["status"], s["cached"]) for s in steps] == [
            ("produce", "cached", True), ("add_up", "cached", True),
        ]  # fmt: skip
        assert [(s["output_artifact"], s["cached_from_run"]) for s in steps] == [
            (sources["produce"].pk, first.pk), (sources["add_up"].pk, first.pk),
        ]  # fmt: skip
    assert counts(body) == {
        "steps_total": 2, "steps_done": 2, "steps_completed": 0, "steps_cached": 2, "steps_skipped": 0,
        "steps_failed": 0, "steps_cancelled": 0,
    }  # fmt: skip

    # The first run's own steps ran: their artifacts are their own, and came from no other run.
    own = client.get(f"/api/runs/{first.pk}/steps/").json()
    assert [(s["status"], s["output_artifact"], s["cached_from_run"]) for s in own] == [
        ("completed", sources["produce"].pk, None), ("completed", sources["add_up"].pk, None),
    ]  # fmt: skip

    # The fully cached run lists the artifacts its steps reused, each with the run that made it.
    artifacts = client.get(f"/api/runs/{second.pk}/artifacts/").json()
    assert sorted((a["step"], a["id"], a["run"]) for a in artifacts) == [
        ("add_up", sources["add_up"].pk, first.pk), ("produce", sources["produce"].pk, first.pk),
    ]  # fmt: skip
    total = next(a for a in artifacts if a["step"] == "add_up")
    download = client.get(total["download_url"])
    assert download.status_code == 200
    assert pickle.loads(b"".join(download.streaming_content) if download.streaming else download.content) == 10


def test_a_cached_step_from_a_project_you_cannot_read_names_no_run_or_artifact(
    api, transactional_db, ready, other_project, owner, outsider
):
    theirs = execute(trigger(other_project, "arithmetic", user=outsider, n=7))
    ours = execute(trigger(ready, "arithmetic", user=owner, n=7))
    assert (theirs.status, ours.status) == (RunStatus.COMPLETED, RunStatus.COMPLETED)
    assert list(ours.steps.values_list("status", flat=True)) == [StepStatus.CACHED] * 2, "the cache spans projects"

    client = api(owner)
    steps = client.get(f"/api/runs/{ours.pk}/steps/").json()
    assert [(s["status"], s["output_artifact"], s["cached_from_run"]) for s in steps] == [("cached", None, None)] * 2
    assert [s["cached_from_run"] for s in client.get(f"/api/runs/{ours.pk}/").json()["steps"]] == [None, None]
    assert client.get(f"/api/runs/{ours.pk}/artifacts/").json() == []
    source = Artifact.objects.filter(run=theirs).first()
    assert client.get(f"/api/artifacts/{source.pk}/download/").status_code == 404

    # Once olivia may read "lab", the same steps lead her there.
    add_member(other_project, owner, "viewer")
    steps = client.get(f"/api/runs/{ours.pk}/steps/").json()
    assert [s["cached_from_run"] for s in steps] == [theirs.pk, theirs.pk]
    assert {a["run"] for a in client.get(f"/api/runs/{ours.pk}/artifacts/").json()} == {theirs.pk}
    assert client.get(f"/api/artifacts/{source.pk}/download/").status_code == 200


def test_steps_of_an_unknown_or_malformed_run_are_a_404(as_, ready):
    for run_id in ("999999", "abc", "-1"):
        for suffix in ("steps/", "artifacts/"):
            response = as_("owner").get(f"/api/runs/{run_id}/{suffix}")
            assert response.status_code == 404
            assert error(response)["code"] == "not_found"


def test_the_schema_documents_the_counts_and_the_cached_steps_fields(api, owner):
    schemas = api(owner).get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    for name in ("steps_total", "steps_done", *OUTCOMES):
        assert schemas["Run"]["properties"][name]["type"] == "integer", name
    step = schemas["StepRun"]["properties"]
    for name in ("output_artifact", "cached_from_run"):
        assert (step[name]["type"], step[name]["nullable"]) == ("integer", True), name
    assert "skipped" in step["error"]["description"]
    assert schemas["Artifact"]["properties"]["run"]["type"] == "integer"


def test_a_run_lists_every_output_its_cached_steps_reused(api, transactional_db, ready, owner):
    first = execute(trigger(ready, "churn-model", user=owner))
    second = execute(trigger(ready, "churn-model", user=owner))
    assert (first.status, second.status) == (RunStatus.COMPLETED, RunStatus.COMPLETED)
    listed = api(owner).get(f"/api/runs/{second.pk}/artifacts/").json()
    assert sorted((a["step"], a["name"]) for a in listed) == sorted(
        Artifact.objects.filter(run=first).values_list("step", "name")
    )
    made_by = {(a["step"], a["name"]): a["run"] for a in listed}
    assert made_by[("split", "train")] == made_by[("split", "test")] == first.pk
    assert made_by[("register_model", "registered")] == second.pk, "a step that is never cached ran again"
