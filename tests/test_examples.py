"""The example pipeline runs the way the README says, and shows what the engine does."""

import subprocess
import sys
from pathlib import Path

import pytest

from flowsite.engine import LocalExecutor, MemoryCacheStore, StepGroup

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def test_churn_example_runs_as_a_module_and_prints_a_summary():
    result = subprocess.run(
        [sys.executable, "-m", "examples.churn"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "warehouse connection reset by peer" in out
    assert out.count("churn-model run") == 2
    first, second = out.split("second run")
    assert "load_customers  completed" in first and "2" in first.split("load_customers  completed")[1].split("\n")[0]
    assert "train_model     cached" in second
    assert "register_model  completed" in first


def test_churn_pipeline_has_a_group_a_retried_step_and_a_condition():
    from examples.churn import pipeline

    units = pipeline.execution_units()
    groups = [u for u in units if isinstance(u, StepGroup)]
    assert [g.execution_order for g in groups] == [["fit_scaler", "scale_features"]]
    by_name = {s.name: s for s in pipeline.steps}
    assert by_name["load_customers"].retry >= 1
    assert by_name["register_model"].condition is not None


def test_churn_model_is_not_registered_when_accuracy_is_below_the_threshold():
    from examples.churn import pipeline

    result = pipeline.run({"min_accuracy": 0.999}, executor=LocalExecutor(), cache_store=MemoryCacheStore())
    assert result.success
    assert result.step_results["register_model"].skipped
    assert "registered" not in result.outputs
    assert result["metrics"]["accuracy"] < 0.999


def test_readme_quickstart_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "my_pipeline.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "quickstart run" in result.stdout
    assert "load      cached" in result.stdout
