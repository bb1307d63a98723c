"""The API against a real qcluster: trigger and watch, cancel a running run, retry only what failed."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.conftest import ledger_entries
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

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
