"""StepGroup and LocalExecutor.execute_step_group."""

from __future__ import annotations

import pytest

from flowsite.engine import Context, LocalExecutor, ResourceConfig, StepGroup, step

SKIPPED_IN_GROUP = "Skipped due to earlier failure in group"


def run_group(group, inputs=None, **kwargs):
    return LocalExecutor().execute_step_group(group, inputs or {}, **kwargs)


def test_step_group_exposes_its_parts():
    a = step(name="a")(lambda: 1)
    b = step(name="b")(lambda: 2)
    group = StepGroup("training", [a, b], ["a", "b"])
    assert group.group_name == "training"
    assert group.steps == [a, b]
    assert group.execution_order == ["a", "b"]
    assert group.aggregated_resources is None


def test_results_follow_the_execution_order():
    ran = []

    @step
    def first():
        ran.append("first")
        return 1

    @step
    def second():
        ran.append("second")
        return 2

    @step
    def third():
        ran.append("third")
        return 3

    group = StepGroup("g", [first, second, third], execution_order=["third", "first", "second"])
    results = run_group(group)
    assert [r.step_name for r in results] == ["third", "first", "second"]
    assert ran == ["third", "first", "second"]
    assert [r.output for r in results] == [3, 1, 2]
    assert all(r.success for r in results)


def test_inputs_map_to_parameters_by_name():
    @step(inputs=["rows"])
    def count(rows):
        return len(rows)

    results = run_group(StepGroup("g", [count], ["count"]), {"rows": [1, 2, 3]})
    assert results[0].success, results[0].error
    assert results[0].output == 3


def test_inputs_map_to_parameters_by_position():
    @step(inputs=["train_rows", "test_rows"])
    def sizes(train, test):
        return (len(train), len(test))

    results = run_group(StepGroup("g", [sizes], ["sizes"]), {"train_rows": [1, 2], "test_rows": [3]})
    assert results[0].success, results[0].error
    assert results[0].output == (2, 1)


def test_parameters_named_like_available_values_receive_them():
    @step(inputs=["rows"])
    def scale(rows, factor):
        return [r * factor for r in rows]

    results = run_group(StepGroup("g", [scale], ["scale"]), {"rows": [1, 2], "factor": 10})
    assert results[0].success, results[0].error
    assert results[0].output == [10, 20]


def test_undeclared_value_with_matching_name_reaches_the_step():
    @step
    def shout(message):
        return message.upper()

    results = run_group(StepGroup("g", [shout], ["shout"]), {"message": "hi", "unrelated": 1})
    assert results[0].success, results[0].error
    assert results[0].output == "HI"


def test_context_injects_only_the_params_each_step_names():
    seen = {}

    @step
    def train(learning_rate, **rest):
        seen["train"] = (learning_rate, rest)
        return "model"

    @step(inputs=["train"])
    def evaluate(train, threshold):
        seen["evaluate"] = (train, threshold)
        return threshold

    group = StepGroup("g", [train, evaluate], ["train", "evaluate"])
    results = run_group(group, context=Context(learning_rate=0.1, threshold=0.8, epochs=5))
    assert [r.success for r in results] == [True, True], [r.error for r in results]
    assert seen["train"] == (0.1, {})
    assert seen["evaluate"] == ("model", 0.8)


def test_context_params_are_used_when_no_context_is_given():
    @step
    def train(learning_rate):
        return learning_rate * 2

    results = run_group(StepGroup("g", [train], ["train"]), context_params={"learning_rate": 0.5})
    assert results[0].success, results[0].error
    assert results[0].output == 1.0


def test_failure_skips_every_later_step_without_running_it():
    ran = []

    @step
    def prepare():
        ran.append("prepare")
        return 1

    @step
    def fit():
        ran.append("fit")
        raise RuntimeError("diverged")

    @step
    def score():
        ran.append("score")
        return 2

    @step
    def report():
        ran.append("report")
        return 3

    group = StepGroup("g", [prepare, fit, score, report], ["prepare", "fit", "score", "report"])
    results = run_group(group)
    assert ran == ["prepare", "fit"]
    assert [r.step_name for r in results] == ["prepare", "fit", "score", "report"]
    assert results[0].success is True
    assert results[1].success is False
    assert "diverged" in results[1].error
    for skipped in results[2:]:
        assert skipped.skipped is True
        assert skipped.success is True
        assert skipped.error == SKIPPED_IN_GROUP
        assert skipped.output is None


def test_step_consuming_a_condition_skipped_step_is_skipped_too():
    calls = []

    @step(outputs=["registered"], condition=lambda: False)
    def register():
        calls.append("register")
        return "model"

    @step(inputs=["registered"])
    def deploy(registered):
        calls.append("deploy")
        return f"deployed {registered}"

    results = run_group(StepGroup("g", [register, deploy], ["register", "deploy"]))
    assert calls == []
    assert [r.step_name for r in results] == ["register", "deploy"]
    assert all(r.success and r.skipped for r in results), [r.error for r in results]


def test_single_output_is_passed_on_whole():
    @step(outputs=["split"])
    def make_split():
        return ([1, 2, 3], [4])

    @step(inputs=["split"])
    def use_split(split):
        return split

    results = run_group(StepGroup("g", [make_split, use_split], ["make_split", "use_split"]))
    assert results[1].success, results[1].error
    assert results[1].output == ([1, 2, 3], [4])


def test_tuple_of_matching_length_is_zipped_onto_outputs():
    @step(outputs=["train", "test"])
    def split():
        return [1, 2, 3], [4]

    @step(inputs=["train", "test"])
    def sizes(train, test):
        return len(train), len(test)

    results = run_group(StepGroup("g", [split, sizes], ["split", "sizes"]))
    assert results[1].success, results[1].error
    assert results[1].output == (3, 1)


def test_dict_output_is_picked_by_output_name():
    @step(outputs=["model", "metrics"])
    def train():
        return {"metrics": {"acc": 0.9}, "model": "m", "extra": "ignored"}

    @step(inputs=["model", "metrics"])
    def summarize(model, metrics):
        return f"{model}:{metrics['acc']}"

    results = run_group(StepGroup("g", [train, summarize], ["train", "summarize"]))
    assert results[1].success, results[1].error
    assert results[1].output == "m:0.9"


def test_step_without_outputs_passes_its_result_under_its_name():
    @step
    def load():
        return [1, 2]

    @step(inputs=["load"])
    def total(load):
        return sum(load)

    results = run_group(StepGroup("g", [load, total], ["load", "total"]))
    assert results[1].output == 3


def test_aggregated_resources_take_the_maximum_of_each_member():
    @step(resources=ResourceConfig(cpu="4", memory="512Mi", gpu_count=0, disk_size="100Gi"))
    def preprocess():
        return 1

    @step(resources=ResourceConfig(cpu="500m", memory="2Gi", gpu="nvidia-t4", gpu_count=2, disk_size="20Gi"))
    def train():
        return 2

    @step
    def no_request():
        return 3

    group = StepGroup("g", [preprocess, train, no_request], ["preprocess", "train", "no_request"])
    merged = group.aggregated_resources
    assert isinstance(merged, ResourceConfig)
    # Numerically, not as strings: "4" cores beat "500m", "2Gi" beats "512Mi".
    assert merged.cpu == "4"
    assert merged.memory == "2Gi"
    assert merged.gpu_count == 2
    assert merged.gpu == "nvidia-t4"
    assert merged.disk_size == "100Gi"


@pytest.mark.parametrize(
    "first, second, field, expected",
    [
        ({"cpu": "1500m"}, {"cpu": "1"}, "cpu", "1500m"),
        ({"cpu": "2"}, {"cpu": "10"}, "cpu", "10"),
        ({"memory": "1G"}, {"memory": "1000Mi"}, "memory", "1000Mi"),
        ({"disk_size": "9Gi"}, {"disk_size": "10Gi"}, "disk_size", "10Gi"),
        ({"gpu_count": 3}, {"gpu_count": 1}, "gpu_count", 3),
    ],
)
def test_each_resource_merges_by_maximum(first, second, field, expected):
    a = step(name="a", resources=ResourceConfig(**first))(lambda: 1)
    b = step(name="b", resources=ResourceConfig(**second))(lambda: 2)
    assert getattr(StepGroup("g", [a, b], ["a", "b"]).aggregated_resources, field) == expected
    assert getattr(StepGroup("g", [b, a], ["b", "a"]).aggregated_resources, field) == expected


def test_explicit_aggregated_resources_are_kept():
    given = ResourceConfig(cpu="8")
    a = step(name="a", resources=ResourceConfig(cpu="2"))(lambda: 1)
    assert StepGroup("g", [a], ["a"], aggregated_resources=given).aggregated_resources is given
