"""`runs logs RUN --all / --output FILE [--format text|ndjson]`: the whole log in one streamed download,
and the step counts the run tables show (`runs list`, `runs show`)."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from accounts.models import ApiToken, Membership, Role
from runs.models import LogLine, Run, RunStatus
from tests.factories import make_user
from tests.runs.helpers import execute

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AT = timezone.now()
LINES = 12_345


@pytest.fixture
def long_run(ready, owner) -> Run:
    """A finished run of 12,345 lines "line 1" … in steps a and b by turns, more than the API's largest page."""
    run = Run.objects.trigger(project=ready, pipeline="chatty", user=owner)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=AT)
    LogLine.objects.bulk_create(
        LogLine(run=run, seq=i, step="ab"[i % 2], stream="stdout", level="INFO", text=f"line {i}", at=AT)
        for i in range(1, LINES + 1)
    )
    return run


def test_all_writes_the_whole_log_as_text_to_stdout(cli, long_run):
    result = cli("runs", "logs", str(long_run.pk), "--all")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"line {i}\n" for i in range(1, LINES + 1))
    assert result.stderr == ""


def test_all_with_json_or_format_ndjson_writes_json_lines(cli, long_run):
    for args in (["--json"], ["--format", "ndjson"]):
        result = cli("runs", "logs", str(long_run.pk), "--all", *args)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["seq"] for r in records] == list(range(1, LINES + 1))
        assert records[0] == {
            "seq": 1, "at": AT.isoformat(), "step": "b", "stream": "stdout", "level": "INFO", "text": "line 1",
        }  # fmt: skip


def test_output_writes_the_whole_log_into_a_file(cli, long_run, tmp_path):
    target = tmp_path / "run.ndjson"
    result = cli("runs", "logs", str(long_run.pk), "--output", str(target), "--format", "ndjson", "--step", "a")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["seq"] for r in records] == list(range(2, LINES + 1, 2))
    assert {r["step"] for r in records} == {"a"}
    assert list(tmp_path.iterdir()) == [target], "no partial file left behind"


def test_a_viewer_downloads_an_outsider_is_refused(cli, long_run, tmp_path):
    vera, oscar = make_user("vera"), make_user("oscar")
    Membership.objects.create(project=long_run.project, user=vera, role=Role.VIEWER)
    result = cli("runs", "logs", str(long_run.pk), "--all", token=ApiToken.issue(vera, "cli")[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == LINES
    target = tmp_path / "log.txt"
    result = cli("runs", "logs", str(long_run.pk), "-o", str(target), token=ApiToken.issue(oscar, "cli")[1])
    assert result.returncode == 2
    assert "404" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a refused download leaves no file"
    result = cli("runs", "logs", str(long_run.pk), "--all", token="fs_not_a_key")
    assert result.returncode == 4
    assert "not signed in" in result.stderr


def test_bad_combinations_are_bad_usage(cli, long_run, tmp_path):
    for args, reason in (
        (["--format", "ndjson"], "--format applies to a whole log"),
        (["--all", "--follow"], "--follow tails the log"),
        (["--all", "--format", "csv"], "invalid choice: 'csv'"),
    ):
        result = cli("runs", "logs", str(long_run.pk), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert reason in result.stderr, args
        assert result.stdout == ""
    result = cli("runs", "logs", str(long_run.pk), "--output", str(tmp_path / "missing" / "log.txt"))
    assert result.returncode == 2
    assert "cannot write" in result.stderr


def test_an_unknown_run_is_refused(cli, ready):
    result = cli("runs", "logs", "999999", "--all")
    assert result.returncode == 2
    assert "404" in result.stderr


# --- step counts -------------------------------------------------------------------------------


def test_a_failed_run_never_reads_as_complete(cli, ready, owner):
    failed = execute(Run.objects.trigger(project=ready, pipeline="exploding", user=owner))
    done = execute(Run.objects.trigger(project=ready, pipeline="arithmetic", user=owner, params={"n": 6}))
    cached = execute(Run.objects.trigger(project=ready, pipeline="arithmetic", user=owner, params={"n": 6}))
    result = cli("runs", "list")
    assert result.returncode == 0, result.stderr
    rows = {row[0]: row for row in (re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()[1:])}
    assert rows[str(failed.pk)][-1] == "0/1 (1 failed)"
    assert rows[str(done.pk)][-1] == "2/2"
    assert rows[str(cached.pk)][-1] == "2/2 (2 cached)"

    result = cli("runs", "show", str(cached.pk))
    assert result.returncode == 0, result.stderr
    steps = result.stdout.splitlines()[-2:]
    assert [line.split()[:2] for line in steps] == [["produce", "cached"], ["add_up", "cached"]]
    assert all(line.endswith(f"served from cache: run {done.pk}") for line in steps), steps
