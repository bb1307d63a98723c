"""`python -m flowsite.cli` as a real process against a live server on the test database.

Exit codes (flowsite/cli.py): 0 done, 1 the run failed or died, 2 bad usage or refused,
3 cancelled, 4 not signed in or not allowed, 5 server unreachable."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests

from accounts.models import ApiToken, Membership, Role
from runs.models import Run, RunStatus
from tests.factories import make_user
from tests.runs.helpers import execute, wait_for

from .conftest import ROOT, cli_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RUN_HEADER = ["ID", "STATUS", "PIPELINE", "PROJECT", "STACK", "BY", "STARTED", "DURATION", "STEPS"]


def table_rows(output: str) -> tuple[list[str], list[list[str]]]:
    """The header's columns and each row's cells (split on runs of two or more spaces)."""
    lines = [line for line in output.splitlines() if line.strip()]
    header = lines[0].split()
    return header, [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def final(run: Run, timeout: float = 30.0) -> Run:
    wait_for(lambda: Run.objects.get(pk=run.pk).is_finished, timeout, f"run {run.pk} to end")
    run.refresh_from_db()
    return run


# --- pipelines -----------------------------------------------------------------------------------


def test_pipelines_list_is_a_table_of_the_registered_pipelines(cli):
    result = cli("pipelines", "list")
    assert result.returncode == 0, result.stderr
    header, rows = table_rows(result.stdout)
    assert header == ["NAME", "VERSION", "STEPS", "PARAMETERS"]
    by_name = {row[0]: row for row in rows}
    assert {"greeting", "arithmetic", "exploding", "lingering", "chatty"} <= set(by_name)
    assert by_name["greeting"][2] == "1"
    assert by_name["greeting"][3] == "name, ledger"
    assert by_name["arithmetic"][2] == "2"
    assert set(by_name["arithmetic"][3].split(", ")) == {"n", "gate", "ledger"}


def test_pipelines_list_json_parses(cli):
    for args in (["pipelines", "list", "--json"], ["--json", "pipelines", "list"]):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        pipelines = json.loads(result.stdout)
        assert isinstance(pipelines, list)
        by_name = {p["name"]: p for p in pipelines}
        assert {"greeting", "arithmetic", "chatty"} <= set(by_name)
        assert [q["name"] for q in by_name["greeting"]["parameters"]] == ["name", "ledger"]
        assert by_name["greeting"]["code_version"]


# --- runs trigger ----------------------------------------------------------------------------------


def test_trigger_prints_the_new_run_id(cli, owner):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--param", "name=Ada")
    assert result.returncode == 0, result.stderr
    run = Run.objects.get(pk=int(result.stdout.strip()))
    assert run.params["name"] == "Ada"
    assert run.pipeline.name == "greeting"
    assert run.project.slug == "ml"
    assert run.stack.name == "local"
    assert run.triggered_by == owner
    assert run.status == RunStatus.QUEUED


def test_trigger_sends_a_json_value_as_json(cli):
    result = cli("runs", "trigger", "arithmetic", "--project", "ml", "--param", "n=3", "--param", "gate=")
    assert result.returncode == 0, result.stderr
    run = Run.objects.get(pk=int(result.stdout.strip()))
    assert run.params["n"] == 3 and type(run.params["n"]) is int
    assert run.params["gate"] == ""


def test_fresh_triggers_a_run_that_ignores_the_cache_and_show_says_so(cli):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--fresh")
    assert result.returncode == 0, result.stderr
    run = Run.objects.get(pk=int(result.stdout.strip()))
    assert run.use_cache is False
    shown = cli("runs", "show", str(run.pk))
    assert "fresh: no step was served from the cache" in shown.stdout.splitlines()

    plain = Run.objects.get(pk=int(cli("runs", "trigger", "greeting", "--project", "ml").stdout.strip()))
    assert plain.use_cache is True
    assert "fresh" not in cli("runs", "show", str(plain.pk)).stdout


def test_trigger_json_prints_the_run(cli):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "queued" and run["pipeline"] == "greeting"
    assert Run.objects.filter(pk=run["id"]).exists()


def test_a_mistyped_param_is_refused_naming_it(cli):
    result = cli("runs", "trigger", "arithmetic", "--project", "ml", "--param", "n=three")
    assert result.returncode == 2
    assert "params.n" in result.stderr
    assert "integer" in result.stderr
    assert result.stdout == ""
    assert not Run.objects.exists()


def test_an_unknown_pipeline_or_project_is_refused(cli):
    result = cli("runs", "trigger", "no-such-pipeline", "--project", "ml")
    assert result.returncode == 2
    assert "pipeline" in result.stderr
    result = cli("runs", "trigger", "greeting", "--project", "no-such-project")
    assert result.returncode == 2
    assert "project" in result.stderr
    assert not Run.objects.exists()


def test_trigger_on_a_named_stack(cli):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--stack", "local")
    assert result.returncode == 0, result.stderr
    assert Run.objects.get(pk=int(result.stdout)).stack.name == "local"
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--stack", "no-such-stack")
    assert result.returncode == 2
    assert "stack" in result.stderr and "no-such-stack" in result.stderr
    assert Run.objects.count() == 1


def test_a_replayed_idempotency_key_gives_the_same_run(cli):
    first = cli("runs", "trigger", "greeting", "--project", "ml", "--idempotency-key", "ci-build-42")
    again = cli("runs", "trigger", "greeting", "--project", "ml", "--idempotency-key", "ci-build-42")
    assert first.returncode == 0 and again.returncode == 0, (first.stderr, again.stderr)
    assert first.stdout == again.stdout
    assert Run.objects.count() == 1


def test_a_malformed_param_is_bad_usage(cli):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--param", "name")
    assert result.returncode == 2
    assert "name=value" in result.stderr
    assert not Run.objects.exists()


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_a_limit_the_api_would_refuse_is_bad_usage(cli, limit):
    result = cli("runs", "list", "--limit", limit)
    assert result.returncode == 2
    assert f"argument --limit: must be a whole number from 1 to 500, not {limit!r}" in result.stderr


# --- runs list / show --------------------------------------------------------------------------------


def test_runs_list_shows_a_table_json_and_filters_by_status(cli, ready, owner):
    queued = Run.objects.trigger(project=ready, pipeline="greeting", params={"name": "q"}, user=owner)
    failed = execute(Run.objects.trigger(project=ready, pipeline="exploding", user=owner))
    assert failed.status == RunStatus.FAILED

    result = cli("runs", "list")
    assert result.returncode == 0, result.stderr
    header, rows = table_rows(result.stdout)
    assert header == RUN_HEADER
    by_id = {row[0]: row for row in rows}
    assert set(by_id) == {str(queued.pk), str(failed.pk)}
    assert by_id[str(queued.pk)][:6] == [str(queued.pk), "queued", "greeting", "ml", "local", "olivia"]
    assert by_id[str(failed.pk)][:6] == [str(failed.pk), "failed", "exploding", "ml", "local", "olivia"]
    assert [row[0] for row in rows] == [str(failed.pk), str(queued.pk)], "newest first"

    result = cli("runs", "list", "--json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert isinstance(runs, list)
    assert [run["id"] for run in runs] == [failed.pk, queued.pk]

    result = cli("runs", "list", "--status", "failed", "--json")
    assert result.returncode == 0, result.stderr
    assert [run["id"] for run in json.loads(result.stdout)] == [failed.pk]

    result = cli("runs", "list", "--status", "failed", "--status", "queued", "--json")
    assert sorted(run["id"] for run in json.loads(result.stdout)) == sorted([failed.pk, queued.pk])

    result = cli("runs", "list", "--status", "failed")
    _, rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == [str(failed.pk)]

    result = cli("runs", "list", "--status", "completed")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "no runs" in result.stderr


def test_runs_show_a_run_with_its_steps(cli, ready, owner):
    run = execute(Run.objects.trigger(project=ready, pipeline="greeting", params={"name": "Ada"}, user=owner))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    result = cli("runs", "show", str(run.pk))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == RUN_HEADER
    row = re.split(r"\s{2,}", lines[1].strip())
    assert row[:6] == [str(run.pk), "completed", "greeting", "ml", "local", "olivia"]
    assert row[-1] == "1/1"
    assert row[6] == run.started_at.isoformat(timespec="seconds"), "ISO 8601 with the offset"
    assert row[6].endswith("+00:00")
    assert lines[2].split()[:2] == ["hello", "completed"]

    result = cli("runs", "show", str(run.pk), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == run.pk and shown["params"]["name"] == "Ada"
    assert [step["name"] for step in shown["steps"]] == ["hello"]


def test_runs_show_gives_the_reason_of_a_failed_run(cli, ready, owner):
    run = execute(Run.objects.trigger(project=ready, pipeline="exploding", params={"message": "kaboom"}, user=owner))
    result = cli("runs", "show", str(run.pk))
    assert result.returncode == 0, result.stderr
    assert "reason: " in result.stdout
    step_line = result.stdout.splitlines()[-1]
    assert step_line.split()[:2] == ["explode", "failed"]
    assert "kaboom" in step_line


def test_an_unknown_run_id_is_refused(cli):
    for command in ("show", "cancel", "retry", "logs"):
        result = cli("runs", command, "999999")
        assert result.returncode == 2, (command, result.stderr)
        assert "404" in result.stderr, command


# --- runs cancel -------------------------------------------------------------------------------------


def test_cancel_a_queued_run_then_again(cli, ready, owner):
    run = Run.objects.trigger(project=ready, pipeline="greeting", user=owner)
    result = cli("runs", "cancel", str(run.pk))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"run {run.pk}: cancelled"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.cancelled_by == owner

    again = cli("runs", "cancel", str(run.pk))
    assert again.returncode == 2
    assert "nothing to cancel" in again.stderr
    assert "409" in again.stderr


# --- runs logs ---------------------------------------------------------------------------------------


def test_runs_logs_prints_step_and_text(cli, ready, owner):
    run = execute(Run.objects.trigger(project=ready, pipeline="greeting", params={"name": "Ada"}, user=owner))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    result = cli("runs", "logs", str(run.pk))
    assert result.returncode == 0, result.stderr
    expected = [f"{line.step or 'run'} | {line.text}" for line in run.log_lines.order_by("seq")]
    assert result.stdout.splitlines() == expected
    assert "hello | hello Ada" in expected
    assert expected.index("hello | hello Ada") + 1 == expected.index("hello | second line")

    result = cli("runs", "logs", str(run.pk), "--step", "hello", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["hello Ada", "second line"]
    assert {line["step"] for line in lines} == {"hello"}


# --- auth and network errors -------------------------------------------------------------------------


def test_no_token_exits_4_naming_flowsite_token(cli):
    result = cli("runs", "list", token=None)
    assert result.returncode == 4
    assert "FLOWSITE_TOKEN" in result.stderr


def test_a_wrong_token_exits_4_not_signed_in(cli):
    result = cli("runs", "list", token="fs_deadbeef_not-the-secret")
    assert result.returncode == 4
    assert "not signed in" in result.stderr


def test_a_revoked_token_exits_4_not_signed_in(cli, owner):
    token, key = ApiToken.issue(owner, "to revoke")
    token.revoke()
    result = cli("pipelines", "list", token=key)
    assert result.returncode == 4
    assert "not signed in" in result.stderr


def test_a_viewer_triggering_exits_4_not_allowed(cli, ready):
    viewer = make_user("victor")
    Membership.objects.create(project=ready, user=viewer, role=Role.VIEWER)
    _, key = ApiToken.issue(viewer, "viewer")
    result = cli("runs", "trigger", "greeting", "--project", "ml", token=key)
    assert result.returncode == 4
    assert "not allowed" in result.stderr
    assert not Run.objects.exists()
    # A viewer still reads the project's runs.
    assert cli("runs", "list", token=key).returncode == 0


def test_an_unreachable_server_exits_5(cli):
    result = cli("runs", "list", url="http://127.0.0.1:9", timeout=30)
    assert result.returncode == 5
    assert "cannot reach" in result.stderr
    assert "http://127.0.0.1:9" in result.stderr


# --- with a real worker ------------------------------------------------------------------------------


def test_trigger_wait_ends_with_the_completed_run(cluster, cli):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--param", "name=Ada", "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    run_id = int(lines[0])
    assert lines[1].split() == RUN_HEADER
    row = re.split(r"\s{2,}", lines[2].strip())
    assert row[:3] == [str(run_id), "completed", "greeting"]
    assert lines[-1].split()[:2] == ["hello", "completed"]
    assert f"run {run_id}: completed" in result.stderr
    assert Run.objects.get(pk=run_id).status == RunStatus.COMPLETED


def test_trigger_wait_json_prints_only_the_final_run(cluster, cli):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "completed"
    assert [step["status"] for step in run["steps"]] == ["completed"]


def test_trigger_wait_on_a_failing_run_exits_1(cluster, cli):
    result = cli("runs", "trigger", "exploding", "--project", "ml", "--wait")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    run_id = int(lines[0])
    row = re.split(r"\s{2,}", lines[2].strip())
    assert row[:3] == [str(run_id), "failed", "exploding"]
    assert "reason: " in result.stdout
    assert Run.objects.get(pk=run_id).status == RunStatus.FAILED


def test_logs_follow_tails_a_live_run_to_its_end(cluster, live_server, key):
    response = requests.post(
        f"{live_server.url}/api/runs/",
        json={"project": "ml", "pipeline": "chatty", "params": {"lines": 3000}},
        headers={"Authorization": f"Token {key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    follower = subprocess.Popen(
        [sys.executable, "-m", "flowsite.cli", "runs", "logs", str(run_id), "--follow"],
        cwd=ROOT,
        env=cli_env(live_server.url, key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, stderr
    run = Run.objects.get(pk=run_id)
    assert run.status == RunStatus.COMPLETED, run.failure_message
    printed = stdout.splitlines()
    chatter = [line for line in printed if line.startswith("chatter | ")]
    assert chatter == [f"chatter | line {i}" for i in range(3000)], "every line once, in order"
    assert printed == [f"{line.step or 'run'} | {line.text}" for line in run.log_lines.order_by("seq")]


def test_retry_wait_of_a_failed_run_exits_0(cluster, cli, ready, owner, tmp_path):
    gate = tmp_path / "gate"
    params = {"n": 4, "gate": str(gate)}
    failed = final(Run.objects.trigger(project=ready, pipeline="arithmetic", params=params, user=owner))
    assert failed.status == RunStatus.FAILED
    gate.write_text("open")
    result = cli("runs", "retry", str(failed.pk), "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    new_id = int(lines[0])
    assert new_id != failed.pk
    row = re.split(r"\s{2,}", lines[2].strip())
    assert row[:3] == [str(new_id), "completed", "arithmetic"]
    retried = Run.objects.get(pk=new_id)
    assert retried.status == RunStatus.COMPLETED
    assert retried.retry_of_id == failed.pk
    assert retried.params == failed.params

    # The run that completed has nothing to retry.
    again = cli("runs", "retry", str(new_id))
    assert again.returncode == 2
    assert "nothing to retry" in again.stderr


def test_cancel_wait_of_a_running_run(cluster, cli, ready, owner):
    run = Run.objects.trigger(project=ready, pipeline="lingering", params={"mode": "python", "seconds": 60}, user=owner)
    wait_for(lambda: Run.objects.get(pk=run.pk).status == RunStatus.RUNNING, what="the run to start")
    result = cli("runs", "cancel", str(run.pk))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in (f"run {run.pk}: cancelling", f"run {run.pk}: cancelled")
    assert final(run).status == RunStatus.CANCELLED
    follow = cli("runs", "logs", str(run.pk), "--follow")
    assert follow.returncode == 3, "following a cancelled run's log exits 3"
