"""The API workers use: runs triggered and watched on a real qcluster, and the remote runner's report endpoint."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from flowsite.engine.textlimits import cut
from runs.api.remote import MAX_EVENTS
from runs.logsanitize import MAX_LINE_CHARS
from runs.models import LogLine, Run, RunStatus, RunToken, StepStatus
from tests.api.helpers import error
from tests.conftest import ledger_entries
from tests.runs.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FINAL = {"completed", "failed", "cancelled", "dead"}


def detail(client, run_id: int) -> dict:
    response = client.get(f"/api/runs/{run_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def until(client, run_id: int, statuses: set[str], timeout: float = 30.0) -> dict:
    return wait_for(
        lambda: (body := detail(client, run_id))["status"] in statuses and body,
        timeout,
        f"run {run_id} to become {' or '.join(sorted(statuses))}",
    )


def start(client, pipeline: str, **params) -> dict:
    response = client.post("/api/runs/", {"project": "ml", "pipeline": pipeline, "params": params}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_run_triggered_through_the_api_is_executed_by_a_worker(cluster, api, member):
    client = api(member, auth="token")
    run = start(client, "greeting", name="worker")
    assert run["status"] == "queued"
    body = until(client, run["id"], FINAL)
    assert body["status"] == "completed", body["failure_message"]
    assert (body["steps_total"], body["steps_done"]) == (1, 1)
    assert [(s["name"], s["status"]) for s in body["steps"]] == [("hello", "completed")]
    assert body["duration_seconds"] > 0 and body["worker_host"]
    logs = client.get(body["links"]["logs"]).json()
    assert [line["text"] for line in logs["lines"]] == ["hello worker", "second line"]
    assert logs["complete"] is True


def test_a_running_run_is_cancelled_through_the_api(cluster, api, member):
    client = api(member, auth="bearer")
    run = start(client, "lingering", mode="python", seconds=60)
    wait_for(
        lambda: [s["status"] for s in client.get(f"/api/runs/{run['id']}/steps/").json()] == ["running"],
        what="the step to start",
    )
    response = client.post(f"/api/runs/{run['id']}/cancel/")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["cancelled_by"]) == ("cancelling", "marco")
    assert response.json()["cancel_requested_at"]
    body = until(client, run["id"], FINAL, timeout=15)
    assert body["status"] == "cancelled"
    assert (body["failure_reason"], body["failure_message"]) == ("cancelled", "Cancelled by marco")
    assert [s["status"] for s in body["steps"]] == ["cancelled"]
    events = client.get(body["links"]["events"]).json()
    run_level = [(e["old_status"], e["new_status"]) for e in events if e["step"] is None]
    assert run_level[-2:] == [("running", "cancelling"), ("cancelling", "cancelled")]
    again = client.post(f"/api/runs/{run['id']}/cancel/")
    assert again.status_code == 409
    assert again.json()["error"]["run_status"] == "cancelled"


def test_a_retry_through_the_api_executes_only_the_failed_step(cluster, api, owner, tmp_path, ledger):
    client = api(owner, auth="token")
    gate = tmp_path / "gate"
    run = start(client, "arithmetic", n=5, gate=str(gate), ledger=ledger)
    failed = until(client, run["id"], FINAL)
    assert failed["status"] == "failed"
    assert failed["failure_message"] == f"step 'add_up' failed: FileNotFoundError: gate {gate} is closed"
    assert [(s["name"], s["status"]) for s in failed["steps"]] == [("produce", "completed"), ("add_up", "failed")]
    assert ledger_entries(ledger) == ["produce", "add_up"]

    Path(gate).touch()
    response = client.post(f"/api/runs/{run['id']}/retry/")
    assert response.status_code == 201, response.content
    retry = response.json()
    assert retry["retry_of"] == run["id"] and retry["id"] != run["id"]
    assert retry["params"] == failed["params"]
    done = until(client, retry["id"], FINAL)
    assert done["status"] == "completed", done["failure_message"]
    assert [(s["name"], s["status"], s["cached"]) for s in done["steps"]] == [
        ("produce", "cached", True),
        ("add_up", "completed", False),
    ]
    assert ledger_entries(ledger) == ["produce", "add_up", "add_up"], "produce did not run again"
    artifacts = {a["step"]: a for a in client.get(done["links"]["artifacts"]).json()}
    total = client.get(artifacts["add_up"]["download_url"])
    assert pickle.loads(b"".join(total.streaming_content) if total.streaming else total.content) == sum(range(5))
    # The original run is untouched by its retry.
    assert detail(client, run["id"])["status"] == "failed"


def test_a_fresh_run_executes_the_steps_the_cache_would_have_served(cluster, api, owner, ledger):
    client = api(owner, auth="token")
    first = until(client, start(client, "arithmetic", n=4, ledger=ledger)["id"], FINAL)
    assert first["status"] == "completed", first["failure_message"]
    assert first["cache"] is True
    cached = until(client, start(client, "arithmetic", n=4, ledger=ledger)["id"], FINAL)
    assert [s["status"] for s in cached["steps"]] == ["cached", "cached"]
    assert ledger_entries(ledger) == ["produce", "add_up"]

    body = {"project": "ml", "pipeline": "arithmetic", "params": {"n": 4, "ledger": ledger}, "cache": False}
    response = client.post("/api/runs/", body, format="json")
    assert response.status_code == 201, response.content
    fresh = until(client, response.json()["id"], FINAL)
    assert fresh["status"] == "completed", fresh["failure_message"]
    assert fresh["cache"] is False
    assert [(s["name"], s["status"], s["cached"]) for s in fresh["steps"]] == [
        ("produce", "completed", False),
        ("add_up", "completed", False),
    ]
    assert ledger_entries(ledger) == ["produce", "add_up", "produce", "add_up"], "the fresh run executed both steps"
    events = client.get(fresh["links"]["events"]).json()
    assert events[0]["reason"] == "triggered, fresh: the cache is not used"
    # What the fresh run made is what the cache serves next.
    after = until(client, start(client, "arithmetic", n=4, ledger=ledger)["id"], FINAL)
    assert [s["cached_from_run"] for s in after["steps"]] == [fresh["id"], fresh["id"]]


# The remote runner's report endpoint: what user code printed is stored sanitised, not refused.


def reporting_run(ready, stack) -> tuple[APIClient, Run]:
    """A running run and a client holding its run token, as a remote runner would."""
    stack.secrets = {"API_TOKEN": "hush-hush-value"}
    stack.save()
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    run.transition((RunStatus.QUEUED,), RunStatus.RUNNING)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RunToken.issue(run)}")
    return client, run


def report(client: APIClient, run: Run, body: bytes):
    return client.generic("POST", f"/api/remote/runs/{run.pk}/report/", body, content_type="application/json")


def log(text: str, level: str = "INFO") -> dict:
    return {"kind": "log", "step": "hello", "stream": "stdout", "level": level, "text": text, "at": AT}


AT = "2026-01-01T00:00:00+00:00"


def test_a_report_of_hostile_output_is_stored_as_local_logs_are(ready, stack):
    client, run = reporting_run(ready, stack)
    events = [
        log("nul\x00byte"),
        log("caf\udce9.txt"),
        log("token hush-hush-value"),
        log("z" * 70_000),
        log("custom", level="a_custom_level_name_too_long"),
        log("no level", level=""),
        log("lower", level="warning"),
        {"kind": "start", "step": "hello", "attempt": 1, "at": AT},
        {"kind": "finish", "step": "hello", "at": AT,
         "result": {"success": False, "error": "E" * 150_000 + "\x00", "duration_seconds": 0.5}},
    ]  # fmt: skip
    # As the runner sends it: json's default escapes the lone surrogate, which the server decodes back.
    response = report(client, run, json.dumps({"events": events}).encode())
    assert response.status_code == 200, response.content
    assert response.json() == {"stop": False, "status": "running"}
    stored = list(LogLine.objects.filter(run=run).order_by("seq").values_list("seq", "level", "text"))
    assert stored == [
        (1, "INFO", "nulbyte"),
        (2, "INFO", "caf\\udce9.txt"),
        (3, "INFO", "token ****"),
        (4, "INFO", cut("z" * 70_000, MAX_LINE_CHARS)),
        (5, "A_CUSTOM_LEVEL_N", "custom"),
        (6, "INFO", "no level"),
        (7, "WARNING", "lower"),
    ]
    step = run.steps.get()
    assert step.status == StepStatus.FAILED
    assert step.error == cut("E" * 150_000, 20_000)


@pytest.mark.parametrize(
    "body, field",
    [
        (b'{"events": [', "request"),
        (b'{"events": [{"kind": "log", "text": "\xff"}]}', "request"),
        (b"[1, 2]", "non_field_errors"),
        (b'{"events": "many"}', "events"),
        (b'{"events": [1]}', "events.0"),
        (json.dumps({"events": [{**log("x"), "step": "s" * 201}]}).encode(), "events.0.step"),
        (json.dumps({"events": [{**log("x"), "step": "nul\x00"}]}).encode(), "events.0.step"),
        (json.dumps({"events": [{"kind": "start", "step": "hello", "attempt": 2**40, "at": AT}]}).encode(),
         "events.0.attempt"),
        (json.dumps({"events": [{}] * (MAX_EVENTS + 1)}).encode(), "events"),
        (json.dumps({"events": [log("x" * (1 << 20))]}).encode(), "request"),
        (b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "request"),
    ],
    ids=["truncated", "not-utf8", "not-an-object", "not-a-list", "not-an-event", "long-step", "nul-step",
         "huge-attempt", "too-many", "too-big", "too-deep"],
)  # fmt: skip
def test_a_malformed_report_is_a_400_in_the_error_shape_and_writes_nothing(ready, stack, body, field):
    client, run = reporting_run(ready, stack)
    response = report(client, run, body)
    assert response.status_code == 400, response.content
    assert field in error(response)["fields"] or field == "request" and error(response)["message"]
    assert not LogLine.objects.filter(run=run).exists()
