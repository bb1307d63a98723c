"""Metrics from the command line: a run's scores in `runs show`, and `runs compare` side by side."""

from __future__ import annotations

import pytest

from runs.models import Run
from tests.factories import make_metric

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def scored(project, name: str, accuracy: float) -> Run:
    run = Run.objects.trigger(project=project, pipeline="greeting", params={"name": name})
    make_metric(run, "hello", "accuracy", accuracy)
    return run


def test_show_prints_a_runs_metrics(cli, ready):
    run = scored(ready, "a", 0.875)
    result = cli("runs", "show", str(run.pk))
    assert result.returncode == 0, result.stderr
    assert "METRIC" in result.stdout
    assert any(line.split() == ["accuracy", "0.875"] for line in result.stdout.splitlines())


def test_compare_marks_the_rows_that_differ(cli, ready):
    a, b = scored(ready, "a", 0.5), scored(ready, "b", 0.5)
    result = cli("runs", "compare", str(a.pk), str(b.pk))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [f"#{a.pk}", f"#{b.pk}"]
    assert any(line.split() == ["≠", "param", "name", '"a"', '"b"'] for line in lines), lines
    assert any(line.split() == ["metric", "accuracy", "0.5", "0.5"] for line in lines), lines


def test_compare_needs_two_to_ten_runs(cli, ready):
    run = scored(ready, "a", 0.5)
    result = cli("runs", "compare", str(run.pk))
    assert result.returncode != 0
    assert "2 to 10" in result.stderr
