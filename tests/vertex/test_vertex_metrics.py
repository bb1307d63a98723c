"""Metrics and previews from a remote run: the runner in the (fake) Vertex job reports them over HTTP."""

from __future__ import annotations

import pytest

from runs.execution import execute_run
from runs.models import Metric, Run, RunStatus
from runs.remote_runs import reconcile_once
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_remote_run_reports_its_metrics_and_output_previews(vertex_project, fake_vertex):
    run = Run.objects.trigger(project=vertex_project, pipeline="churn-model", params={"epochs": 30})
    execute_run(run.pk)

    def finished() -> bool:
        reconcile_once()
        run.refresh_from_db()
        return run.is_finished

    wait_for(finished, 60, "the remote run to finish")
    assert run.status == RunStatus.COMPLETED, run.failure_message
    series = list(Metric.objects.filter(run=run, name="train_error").values_list("step__name", "step_index"))
    assert series == [("train_model", i) for i in (0, 10, 20)]
    assert set(Metric.objects.filter(run=run).values_list("name", flat=True)) == {"accuracy", "log_loss", "train_error"}
    customers = run.artifacts.get(name="customers").preview
    assert customers["kind"] == "table" and customers["total_rows"] == 600
    assert run.artifacts.get(name="metrics").preview["kind"] == "json"
