"""Pipeline: building the DAG, execution units, and running in-process."""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from flowsite.engine import (
    Context,
    LocalExecutor,
    Pipeline,
    PipelineResult,
    Step,
    StepGroup,
    step,
)
from flowsite.engine.stores import FileArtifactStore, MemoryCacheStore

from .conftest import RecordingObserver


def make_chain(calls=None):
    """load -> split -> train -> evaluate, recording calls into `calls`."""
    calls = calls if calls is not None else []

    @step(outputs=["rows"])
    def load(size):
        calls.append("load")
        return list(range(size))

    @step(inputs=["rows"], outputs=["train_rows", "test_rows"])
    def split(rows):
        calls.append("split")
        cut = len(rows) * 3 // 4
        return rows[:cut], rows[cut:]

    @step(inputs=["train_rows"], outputs=["model"])
    def train(train_rows):
        calls.append("train")
        return {"mean": sum(train_rows) / len(train_rows)}

    @step(inputs=["model", "test_rows"], outputs=["score"])
    def evaluate(model, test_rows):
        calls.append("evaluate")
        return round(model["mean"] / max(test_rows), 3)

    return [load, split, train, evaluate]


# --- building ------------------------------------------------------------------------


def test_pipeline_takes_steps_and_add_step_returns_the_pipeline():
    load, split, train, evaluate = make_chain()
    p = Pipeline("training", [load, split])
    assert p.name == "training"
    assert p.add_step(train) is p
    assert p.add_step(evaluate) is p
    assert [s.name for s in p.steps] == ["load", "split", "train", "evaluate"]


def test_add_step_accepts_a_plain_function():
    def hello():
        return "hi"

    p = Pipeline("p").add_step(hello)
    assert isinstance(p.steps[0], Step)
    assert p.run().outputs == {"hello": "hi"}


def test_cycle_is_a_value_error_naming_the_steps():
    @step(inputs=["evaluated"], outputs=["trained"])
    def train_model(evaluated):
        return 1

    @step(inputs=["trained"], outputs=["evaluated"])
    def evaluate_model(trained):
        return 2

    p = Pipeline("loop", [train_model, evaluate_model])
    with pytest.raises(ValueError) as excinfo:
        p.execution_units()
    message = str(excinfo.value)
    assert "cycle" in message
    assert "train_model" in message
    assert "evaluate_model" in message


def test_duplicate_step_names_are_a_value_error():
    first = step(name="clean_data")(lambda: 1)
    second = step(name="clean_data", outputs=["other"])(lambda: 2)
    with pytest.raises(ValueError, match="clean_data"):
        Pipeline("p", [first, second]).execution_units()


def test_duplicate_outputs_are_a_value_error_naming_both_steps():
    a = step(name="source_a", outputs=["dataset"])(lambda: 1)
    b = step(name="source_b", outputs=["dataset"])(lambda: 2)
    with pytest.raises(ValueError) as excinfo:
        Pipeline("p", [a, b]).execution_units()
    message = str(excinfo.value)
    assert "dataset" in message
    assert "source_a" in message
    assert "source_b" in message


def test_input_nobody_produces_is_a_value_error_naming_step_and_input():
    @step(inputs=["features"])
    def fit(features):
        return 1

    with pytest.raises(ValueError) as excinfo:
        Pipeline("p", [fit]).execution_units()
    message = str(excinfo.value)
    assert "fit" in message
    assert "features" in message


def test_building_errors_surface_from_run_too():
    @step(inputs=["missing_value"])
    def consume(missing_value):
        return 1

    with pytest.raises(ValueError, match="missing_value"):
        Pipeline("p", [consume]).run()


# --- execution units -----------------------------------------------------------------


def test_execution_units_are_topological_even_when_steps_are_added_out_of_order():
    load, split, train, evaluate = make_chain()
    p = Pipeline("p", [evaluate, train, split, load])
    assert [u.name for u in p.execution_units()] == ["load", "split", "train", "evaluate"]
    assert all(isinstance(u, Step) for u in p.execution_units())


def test_consecutive_same_group_steps_become_one_step_group():
    @step(outputs=["rows"])
    def load():
        return [1, 2, 3]

    @step(inputs=["model"], outputs=["score"], execution_group="gpu")
    def evaluate(model):
        return 1.0

    @step(inputs=["rows"], outputs=["model"], execution_group="gpu")
    def train(rows):
        return "m"

    @step(inputs=["score"])
    def report(score):
        return f"score={score}"

    p = Pipeline("p", [report, evaluate, train, load])
    units = p.execution_units()
    assert [type(u) for u in units] == [Step, StepGroup, Step]
    assert units[0].name == "load"
    assert units[2].name == "report"
    group = units[1]
    assert group.group_name == "gpu"
    assert [s.name for s in group.steps] == ["train", "evaluate"]
    assert group.execution_order == ["train", "evaluate"]


def test_grouped_pipeline_runs_and_passes_values_through_the_group():
    @step(outputs=["rows"])
    def load():
        return [1, 2, 3]

    @step(inputs=["rows"], outputs=["model"], execution_group="gpu")
    def train(rows):
        return sum(rows)

    @step(inputs=["model"], outputs=["score"], execution_group="gpu")
    def evaluate(model):
        return model * 10

    result = Pipeline("p", [evaluate, train, load]).run()
    assert result.success
    assert result["score"] == 60


# --- running -------------------------------------------------------------------------


def test_run_returns_a_pipeline_result():
    calls = []
    result = Pipeline("training", make_chain(calls)).run(context={"size": 8})
    assert isinstance(result, PipelineResult)
    assert result.success is True
    assert calls == ["load", "split", "train", "evaluate"]
    assert set(result.step_results) == {"load", "split", "train", "evaluate"}
    assert all(r.success for r in result.step_results.values())
    assert result.step_results["train"].output == {"mean": 2.5}
    assert result.outputs["rows"] == list(range(8))
    assert result.outputs["train_rows"] == [0, 1, 2, 3, 4, 5]
    assert result.outputs["test_rows"] == [6, 7]
    assert result["model"] == {"mean": 2.5}
    assert result["score"] == round(2.5 / 7, 3)
    assert result.duration_seconds >= 0


def test_missing_output_is_a_helpful_key_error():
    result = Pipeline("training", make_chain()).run(context={"size": 8})
    with pytest.raises(KeyError) as excinfo:
        result["modle"]
    message = str(excinfo.value)
    assert "modle" in message
    assert "model" in message.replace("'modle'", "")


@pytest.mark.parametrize("context", [{"size": 4}, Context(size=4)], ids=["dict", "Context"])
def test_context_can_be_a_dict_or_a_context(context):
    result = Pipeline("training", make_chain()).run(context=context)
    assert result.success, result.error
    assert result["rows"] == [0, 1, 2, 3]


def test_steps_receive_only_the_context_params_they_name():
    seen = {}

    @step
    def first(alpha, **rest):
        seen["first"] = rest
        return alpha

    @step(inputs=["first"])
    def second(first, beta):
        return first + beta

    result = Pipeline("p", [first, second]).run(context={"alpha": 1, "beta": 2, "gamma": 3})
    assert result.success, result.error
    assert seen["first"] == {}
    assert result["second"] == 3


def test_second_run_is_served_from_cache_and_changed_param_is_a_miss():
    calls = []
    p = Pipeline("training", make_chain(calls))
    cache = MemoryCacheStore()

    first = p.run(context={"size": 8}, cache_store=cache)
    assert first.success
    assert calls == ["load", "split", "train", "evaluate"]
    assert not any(r.cached for r in first.step_results.values())

    calls.clear()
    second = p.run(context={"size": 8}, cache_store=cache)
    assert second.success
    assert calls == []
    assert all(r.cached for r in second.step_results.values())
    assert second["score"] == first["score"]

    third = p.run(context={"size": 12}, cache_store=cache)
    assert third.success
    assert third.step_results["load"].cached is False
    assert "load" in calls
    assert third["rows"] == list(range(12))


def test_step_downstream_of_a_condition_skip_is_skipped_too():
    calls = []

    @step(outputs=["score"])
    def evaluate():
        return 0.4

    @step(inputs=["score"], outputs=["registered"], condition=lambda score: score > 0.8)
    def register(score):
        calls.append("register")
        return "model-v1"

    @step(inputs=["registered"])
    def deploy(registered):
        calls.append("deploy")
        return f"deployed {registered}"

    result = Pipeline("p", [evaluate, register, deploy]).run()
    assert calls == []
    assert result.success is True, result.error
    assert result.step_results["register"].skipped is True
    deploy_result = result.step_results["deploy"]
    assert deploy_result.skipped is True
    assert deploy_result.success is True
    assert "TypeError" not in (deploy_result.error or "")
    assert "registered" not in result.outputs
    assert result["score"] == 0.4


def test_condition_can_use_a_context_param_the_step_does_not_name():
    calls = []

    @step(outputs=["accuracy"])
    def evaluate():
        return 0.85

    def good_enough(accuracy, min_accuracy):
        return accuracy >= min_accuracy

    @step(inputs=["accuracy"], condition=good_enough)
    def register(accuracy):
        calls.append(accuracy)
        return "registered"

    p = Pipeline("p", [evaluate, register])
    passed = p.run(context={"min_accuracy": 0.8})
    assert passed.success, passed.error
    assert passed["register"] == "registered"
    failed = p.run(context=Context(min_accuracy=0.9))
    assert failed.success, failed.error
    assert failed.step_results["register"].skipped is True
    assert calls == [0.85]


def test_after_a_failure_no_later_step_runs():
    calls = []

    @step(outputs=["rows"])
    def load():
        calls.append("load")
        return [1]

    @step(inputs=["rows"], outputs=["model"])
    def train(rows):
        calls.append("train")
        raise RuntimeError("out of memory")

    @step(outputs=["other"])
    def independent():
        calls.append("independent")
        return 1

    @step(inputs=["model"])
    def evaluate(model):
        calls.append("evaluate")
        return 1

    result = Pipeline("p", [load, train, independent, evaluate]).run()
    assert result.success is False
    assert calls == ["load", "train"]
    assert result.step_results["train"].success is False
    assert "out of memory" in result.step_results["train"].error
    for name in ("independent", "evaluate"):
        later = result.step_results[name]
        assert later.skipped is True
        assert later.error.startswith("Not run")


def test_stop_request_between_steps_stops_the_run():
    calls = []

    class StopAfterFirst(RecordingObserver):
        def step_finished(self, result):
            super().step_finished(result)
            self.stop_event.set()

    @step(outputs=["a"])
    def first():
        calls.append("first")
        return 1

    @step(inputs=["a"])
    def second(a):
        calls.append("second")
        return 2

    observer = StopAfterFirst()
    result = Pipeline("p", [first, second]).run(executor=LocalExecutor(observer=observer))
    assert calls == ["first"]
    assert result.stopped is True
    assert result.success is False
    assert result.step_results["first"].success is True
    assert result.step_results["second"].skipped is True
    assert result.step_results["second"].error.startswith("Not run")


def test_file_artifact_store_gets_a_file_per_non_none_output(tmp_path):
    @step(outputs=["rows"])
    def load():
        return [1, 2, 3]

    @step(inputs=["rows"])
    def log_only(rows):
        return None

    @step(inputs=["rows"], outputs=["model"])
    def train(rows):
        return {"weights": rows}

    root = tmp_path / "artifacts"
    store = FileArtifactStore(root)
    result = Pipeline("p", [load, log_only, train]).run(artifact_store=store)
    assert result.success, result.error

    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) == 2
    for name, expected in (("load", [1, 2, 3]), ("train", {"weights": [1, 2, 3]})):
        uri = result.step_results[name].artifact_uri
        assert uri
        path = Path(unquote(urlparse(uri).path))
        assert path.is_file()
        assert path.resolve().is_relative_to(root.resolve())
        assert pickle.loads(path.read_bytes()) == expected
    assert result.step_results["log_only"].artifact_uri is None


def test_artifact_store_keeps_a_hostile_step_name_inside_its_root(tmp_path):
    root = tmp_path / "a" / "b" / "store"
    store = FileArtifactStore(root)
    hostile = step(name="../../etc")(lambda: "secret")
    result = Pipeline("p", [hostile]).run(artifact_store=store, run_id="../../run")
    assert result.success, result.error

    uri = result.step_results["../../etc"].artifact_uri
    path = Path(unquote(urlparse(uri).path))
    assert path.resolve().is_relative_to(root.resolve())
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert everything, "the output was not written at all"
    for p in everything:
        assert p.resolve().is_relative_to(root.resolve()), p


def test_a_seed_style_executor_without_an_observer_attribute_runs_a_pipeline():
    from flowsite.engine import ExecutionResult, Executor, Pipeline, step

    class SeedStyleExecutor(Executor):
        def __init__(self):  # does not call Executor.__init__, as seed-era executors don't
            self.calls = []

        def execute_step(self, step, inputs, context_params, cache_store=None, **kwargs):
            self.calls.append(step.name)
            return ExecutionResult(step.name, success=True, output=step.func(**inputs, **context_params))

    @step
    def one():
        return 1

    @step(inputs=["one"])
    def two(one):
        return one + 1

    executor = SeedStyleExecutor()
    result = Pipeline("seed-style", [one, two]).run(executor=executor)
    assert result.success and result["two"] == 2
    assert executor.calls == ["one", "two"]


def test_file_artifact_store_loads_what_it_stored_and_nothing_outside_its_root(tmp_path):
    from flowsite.engine import FileArtifactStore

    store = FileArtifactStore(tmp_path / "artifacts")
    uri = store.materialize({"weights": [1, 2]}, name="output", run_id="r1", step_name="train")
    assert store.load(uri) == {"weights": [1, 2]}
    outside = tmp_path / "elsewhere.pkl"
    outside.write_bytes(b"not ours")
    with pytest.raises(ValueError, match="is not in this artifact store"):
        store.load(outside.as_uri())
