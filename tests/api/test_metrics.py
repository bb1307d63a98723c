"""Metrics and artifact previews through the API: recorded by real workers and remote reports, read back
per run, as runs-list columns, side by side in a comparison and across a pipeline's runs."""

from __future__ import annotations

import json

import pytest

from runs.models import Artifact, Metric, Run
from tests.api.helpers import error, trigger
from tests.api.test_worker_api import AT, report, reporting_run, start, until
from tests.factories import make_metric

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_pipeline_that_logs_metrics_and_outputs_a_table_shows_both(cluster, api, member):
    client = api(member, auth="token")
    first = until(client, start(client, "churn-model")["id"], {"completed", "failed"}, timeout=60)
    assert first["status"] == "completed", first["failure_message"]
    second = until(client, start(client, "churn-model", epochs=20)["id"], {"completed", "failed"}, timeout=60)
    assert second["status"] == "completed", second["failure_message"]

    assert set(first["metrics"]) == {"accuracy", "log_loss", "train_error"}
    assert 0.5 < first["metrics"]["accuracy"] <= 1.0
    points = client.get(first["links"]["metrics"]).json()
    series = [p for p in points if p["name"] == "train_error"]
    assert [p["step_index"] for p in series] == list(range(0, 150, 10))
    assert {p["step"] for p in series} == {"train_model"}
    # A run's value of a series metric is where the series ended.
    assert first["metrics"]["train_error"] == series[-1]["value"]

    artifacts = client.get(first["links"]["artifacts"]).json()
    customers = next(a for a in artifacts if a["name"] == "customers")["preview"]
    assert customers["kind"] == "table"
    assert customers["columns"] == ["tenure", "charges", "calls", "churned"]
    assert len(customers["rows"]) == 10 and customers["total_rows"] == 600
    assert next(a for a in artifacts if a["name"] == "metrics")["preview"]["kind"] == "json"

    listed = client.get("/api/runs/", {"metrics": "accuracy,missing"}).json()["results"]
    by_id = {run["id"]: run["metrics"] for run in listed}
    assert by_id[first["id"]] == {"accuracy": first["metrics"]["accuracy"], "missing": None}
    assert client.get("/api/runs/").json()["results"][0]["metrics"] == {}

    compared = client.get("/api/runs/compare/", {"ids": f"{first['id']},{second['id']}"}).json()
    assert [r["id"] for r in compared["runs"]] == [first["id"], second["id"]]
    epochs = next(row for row in compared["params"] if row["name"] == "epochs")
    assert epochs == {"name": "epochs", "values": [150, 20], "differs": True}
    seed = next(row for row in compared["params"] if row["name"] == "seed")
    assert seed["differs"] is False
    assert {row["name"] for row in compared["metrics"]} == {"accuracy", "log_loss", "train_error"}
    steps = {row["name"]: row for row in compared["steps"]}
    assert steps["load_customers"]["statuses"] == ["completed", "cached"]
    assert steps["train_model"]["statuses"] == ["completed", "completed"]

    chart = client.get("/api/pipelines/churn-model/metrics/").json()
    assert [r["id"] for r in chart["runs"]] == [first["id"], second["id"]]
    assert chart["metrics"]["accuracy"] == [first["metrics"]["accuracy"], second["metrics"]["accuracy"]]


def test_a_remote_report_records_metrics_once_and_masks_previews(ready, stack, tmp_path):
    stack.config = {**(stack.config or {}), "artifact_uri": f"file://{tmp_path}"}
    client, run = reporting_run(ready, stack)
    preview = {
        "kind": "table",
        "columns": ["key"],
        "rows": [["hush-hush-value"]],
        "total_rows": 1,
        "type": "builtins.list",
    }
    events = [
        {"kind": "start", "step": "hello", "attempt": 1, "at": AT},
        {"kind": "metric", "step": "hello", "name": "loss", "value": 0.5, "step_index": 0, "at": AT},
        {"kind": "metric", "step": "hello", "name": "loss", "value": 0.25, "step_index": 1, "at": AT},
        {"kind": "artifact", "step": "hello", "name": "greeting", "uri": f"{run_prefix(run)}hello/greeting.pkl",
         "size": 3, "preview": preview, "at": AT},
    ]  # fmt: skip
    body = json.dumps({"runner": "a" * 32, "batch": 1, "events": events}).encode()
    first = report(client, run, body)
    assert first.status_code == 200, first.content
    # The runner's answer was lost and it sends the batch again: recorded once.
    assert report(client, run, body).status_code == 200
    assert list(Metric.objects.filter(run=run).values_list("seq", "name", "value", "step_index")) == [
        (1, "loss", 0.5, 0), (2, "loss", 0.25, 1),
    ]  # fmt: skip
    assert Artifact.objects.get(run=run).preview["rows"] == [["****"]]
    more = [{"kind": "metric", "step": "hello", "name": "accuracy", "value": 0.9, "at": AT}]
    assert report(client, run, json.dumps({"runner": "a" * 32, "batch": 2, "events": more}).encode()).status_code == 200
    assert list(Metric.objects.filter(run=run).values_list("seq", "name")) == [
        (1, "loss"),
        (2, "loss"),
        (3, "accuracy"),
    ]


def run_prefix(run: Run) -> str:
    from runs.api.remote import run_artifact_prefix

    return run_artifact_prefix(run)


@pytest.mark.parametrize(
    "event, field",
    [
        ({"name": "loss", "value": "NaN"}, "events.0.value"),
        ({"name": "loss", "value": "Infinity"}, "events.0.value"),
        ({"name": "bad\nname", "value": 1}, "events.0.name"),
        ({"name": "x" * 101, "value": 1}, "events.0.name"),
        ({"name": "loss"}, "events.0.value"),
        ({"name": "loss", "value": 1, "step_index": -1}, "events.0.step_index"),
    ],
    ids=["nan", "inf", "newline", "long", "no-value", "negative-index"],
)
def test_a_bad_metric_in_a_report_is_a_400_naming_it(ready, stack, event, field):
    client, run = reporting_run(ready, stack)
    body = json.dumps({"events": [{"kind": "metric", "step": "hello", "at": AT, **event}]}).encode()
    response = report(client, run, body)
    assert response.status_code == 400, response.content
    assert field in error(response)["fields"], error(response)
    assert not Metric.objects.filter(run=run).exists()


def test_an_oversized_preview_in_a_report_is_a_400(ready, stack, tmp_path):
    stack.config = {**(stack.config or {}), "artifact_uri": f"file://{tmp_path}"}
    client, run = reporting_run(ready, stack)
    preview = {"kind": "text", "text": "x" * 20_000}
    event = {"kind": "artifact", "step": "hello", "name": "g", "uri": f"{run_prefix(run)}hello/g.pkl", "size": 1,
             "preview": preview, "at": AT}  # fmt: skip
    response = report(client, run, json.dumps({"events": [event]}).encode())
    assert response.status_code == 400
    assert "events.0.preview" in error(response)["fields"]


def scored_runs(project, *accuracies: float) -> list[Run]:
    runs = []
    for i, accuracy in enumerate(accuracies):
        run = trigger(project, "greeting", name=f"r{i}")
        make_metric(run, "hello", "accuracy", accuracy)
        runs.append(run)
    return runs


def test_compare_marks_differences_and_keeps_the_order_asked(ready, as_):
    a, b, c = scored_runs(ready, 0.9, 0.9, 0.7)
    body = as_("viewer").get("/api/runs/compare/", {"ids": f"{c.pk},{a.pk}"}).json()
    assert [r["id"] for r in body["runs"]] == [c.pk, a.pk]
    assert body["metrics"] == [{"name": "accuracy", "values": [0.7, 0.9], "differs": True}]
    params = {row["name"]: row for row in body["params"]}
    assert params["name"] == {"name": "name", "values": ["r2", "r0"], "differs": True}
    assert params["ledger"]["differs"] is False
    same = as_("viewer").get("/api/runs/compare/", {"ids": f"{a.pk},{b.pk}"}).json()
    assert same["metrics"][0]["differs"] is False


@pytest.mark.parametrize(
    "ids, message",
    [
        ("", "2 to 10"),
        ("1", "2 to 10"),
        ("1,1", "2 to 10"),
        ("a,b", "run ids"),
        (",".join(map(str, range(1, 12))), "2 to 10"),
    ],
    ids=["none", "one", "same-twice", "not-ids", "eleven"],
)
def test_compare_refuses_bad_ids_naming_the_field(ready, as_, ids, message):
    response = as_("viewer").get("/api/runs/compare/", {"ids": ids})
    assert response.status_code == 400
    assert message in error(response)["fields"]["ids"]


def test_compare_hides_runs_of_other_projects(ready, other_project, as_):
    ours = scored_runs(ready, 0.5)[0]
    theirs = trigger(other_project, "greeting")
    response = as_("viewer").get("/api/runs/compare/", {"ids": f"{ours.pk},{theirs.pk}"})
    assert response.status_code == 404
    assert response.json() == as_("viewer").get("/api/runs/compare/", {"ids": f"{ours.pk},999999"}).json() | {
        "error": {**response.json()["error"], "message": response.json()["error"]["message"]}
    }
    assert as_("outsider").get(f"/api/runs/{ours.pk}/metrics/").status_code == 404


def test_runs_list_metric_columns_are_checked(ready, as_):
    scored_runs(ready, 0.8)
    assert as_("viewer").get("/api/runs/", {"metrics": "accuracy"}).json()["results"][0]["metrics"] == {"accuracy": 0.8}
    bad = as_("viewer").get("/api/runs/", {"metrics": "a\x01b"})
    assert bad.status_code == 400 and "metrics" in error(bad)["fields"]
    many = as_("viewer").get("/api/runs/", {"metrics": ",".join(f"m{i}" for i in range(11))})
    assert many.status_code == 400 and "metrics" in error(many)["fields"]
    on_pipeline = as_("viewer").get("/api/pipelines/greeting/runs/", {"metrics": "accuracy"}).json()
    assert on_pipeline["results"][0]["metrics"] == {"accuracy": 0.8}


def test_pipeline_chart_reads_the_latest_runs_and_checks_its_limit(ready, as_):
    runs = scored_runs(ready, 0.1, 0.2, 0.3)
    chart = as_("viewer").get("/api/pipelines/greeting/metrics/", {"limit": 2}).json()
    assert [r["id"] for r in chart["runs"]] == [runs[1].pk, runs[2].pk]
    assert chart["metrics"] == {"accuracy": [0.2, 0.3]}
    assert as_("viewer").get("/api/pipelines/greeting/metrics/", {"limit": 1001}).status_code == 400
    assert as_("viewer").get("/api/pipelines/nope/metrics/").status_code == 404
    assert as_("outsider").get("/api/pipelines/greeting/metrics/").json() == {"runs": [], "metrics": {}}
