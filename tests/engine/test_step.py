"""The @step decorator, Step's attributes and validation, code hashes and cache keys."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from flowsite.engine import ResourceConfig, Step, step

# --- the decorator -------------------------------------------------------------------


def test_bare_decorator_makes_a_step_with_defaults():
    @step
    def load_data():
        return [1, 2, 3]

    assert isinstance(load_data, Step)
    assert load_data.name == "load_data"
    assert load_data.inputs == []
    assert load_data.cache is True
    assert load_data.retry == 0
    assert load_data.retry_delay == 1.0
    assert load_data.timeout is None
    assert load_data.condition is None
    assert load_data.execution_group is None
    assert load_data.resources is None
    assert load_data.tags == {}
    assert load_data.func() == [1, 2, 3]


def test_decorator_with_keywords_sets_every_attribute():
    def only_when_big(rows):
        return len(rows) > 2

    resources = ResourceConfig(cpu="2", memory="4Gi")

    @step(
        name="train",
        inputs=["rows"],
        outputs=["model", "metrics"],
        cache="input_hash",
        retry=3,
        retry_delay=0.5,
        timeout=12.5,
        condition=only_when_big,
        execution_group="training",
        resources=resources,
        tags={"team": "ml"},
    )
    def train_model(rows):
        return "model", {"acc": 1.0}

    assert isinstance(train_model, Step)
    assert train_model.name == "train"
    assert train_model.inputs == ["rows"]
    assert train_model.outputs == ["model", "metrics"]
    assert train_model.cache == "input_hash"
    assert train_model.retry == 3
    assert train_model.retry_delay == 0.5
    assert train_model.timeout == 12.5
    assert train_model.condition is only_when_big
    assert train_model.execution_group == "training"
    assert train_model.resources == resources
    assert train_model.tags == {"team": "ml"}
    assert train_model.func(rows=[1]) == ("model", {"acc": 1.0})


def test_keyword_decorator_without_name_uses_function_name():
    @step(retry=1)
    def clean():
        return 1

    assert clean.name == "clean"
    assert clean.retry == 1


def test_step_with_no_outputs_publishes_under_its_own_name():
    @step
    def features():
        return {}

    @step(name="renamed")
    def other():
        return {}

    assert features.outputs == ["features"]
    assert other.outputs == ["renamed"]


def test_single_string_inputs_and_outputs_become_lists():
    @step(inputs="raw", outputs="clean")
    def tidy(raw):
        return raw

    assert tidy.inputs == ["raw"]
    assert tidy.outputs == ["clean"]


def test_resources_given_as_a_mapping_become_a_resource_config():
    @step(resources={"cpu": "4", "memory": "8Gi"})
    def heavy():
        return 1

    assert isinstance(heavy.resources, ResourceConfig)
    assert heavy.resources.cpu == "4"
    assert heavy.resources.memory == "8Gi"


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, words",
    [
        ({"retry": -1}, ["retry", "-1"]),
        ({"retry": "2"}, ["retry"]),
        ({"retry": 1.5}, ["retry"]),
        ({"retry": True}, ["retry"]),
        ({"retry_delay": -0.5}, ["retry_delay"]),
        ({"timeout": 0}, ["timeout"]),
        ({"timeout": -3}, ["timeout"]),
        ({"timeout": "10"}, ["timeout"]),
        ({"cache": "sometimes"}, ["cache", "sometimes"]),
        ({"cache": 1.5}, ["cache"]),
        ({"condition": "yes"}, ["condition"]),
    ],
)
def test_bad_options_raise_value_error_naming_the_step(options, words):
    def fit_model():
        return 1

    with pytest.raises(ValueError) as excinfo:
        step(**options)(fit_model)
    message = str(excinfo.value)
    assert "fit_model" in message
    for word in words:
        assert word in message


def test_bad_option_error_names_the_explicit_step_name():
    with pytest.raises(ValueError, match="evaluate_v2"):

        @step(name="evaluate_v2", retry=-2)
        def evaluate():
            return 1


@pytest.mark.parametrize("cache", [True, False, "input_hash", lambda inputs, params: "k"])
def test_valid_cache_settings_are_accepted(cache):
    s = step(cache=cache)(lambda: 1)
    assert s.cache is cache or s.cache == cache


def test_timeout_and_retry_accept_sensible_values():
    s = step(retry=0, retry_delay=0, timeout=0.01)(lambda: 1)
    assert (s.retry, s.retry_delay, s.timeout) == (0, 0.0, 0.01)


# --- code hash -----------------------------------------------------------------------


_HASH_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import flowmod
    print(flowmod.transform.get_code_hash())
    """
)

_MODULE_V1 = textwrap.dedent(
    """
    from flowsite.engine import step

    @step
    def transform(x):
        return x * 2
    """
)

_MODULE_V2 = _MODULE_V1.replace("x * 2", "x * 3")


def _hash_in_subprocess(folder: Path) -> str:
    repo_root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-c", _HASH_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@pytest.mark.e2e
def test_code_hash_is_stable_across_processes(tmp_path):
    (tmp_path / "flowmod.py").write_text(_MODULE_V1)
    first = _hash_in_subprocess(tmp_path)
    second = _hash_in_subprocess(tmp_path)
    assert first
    assert first == second


@pytest.mark.e2e
def test_code_hash_changes_when_the_source_changes(tmp_path):
    (tmp_path / "flowmod.py").write_text(_MODULE_V1)
    before = _hash_in_subprocess(tmp_path)
    (tmp_path / "flowmod.py").write_text(_MODULE_V2)
    # A stale bytecode cache must not matter: the hash follows the source.
    after = _hash_in_subprocess(tmp_path)
    assert before != after


def test_code_hash_differs_between_different_functions_in_process():
    @step(name="same")
    def a(x):
        return x + 1

    @step(name="same")
    def b(x):
        return x - 1

    assert a.get_code_hash() == a.get_code_hash()
    assert a.get_code_hash() != b.get_code_hash()


# --- cache keys ----------------------------------------------------------------------


def _double(name="double", **options):
    @step(name=name, **options)
    def double(x, factor=2):
        return x * factor

    return double


def test_default_cache_key_is_a_deterministic_string():
    s = _double()
    key = s.get_cache_key({"x": 1}, {"factor": 2})
    assert isinstance(key, str) and key
    assert key == s.get_cache_key({"x": 1}, {"factor": 2})


def test_default_cache_key_changes_with_inputs():
    s = _double()
    assert s.get_cache_key({"x": 1}) != s.get_cache_key({"x": 2})
    assert s.get_cache_key({"x": 1}) != s.get_cache_key({"y": 1})


def test_default_cache_key_changes_with_context_params():
    s = _double()
    assert s.get_cache_key({"x": 1}, {"factor": 2}) != s.get_cache_key({"x": 1}, {"factor": 3})
    assert s.get_cache_key({"x": 1}, {"factor": 2}) != s.get_cache_key({"x": 1})


def test_default_cache_key_changes_with_code():
    @step(name="featurize")
    def version_one(x):
        return x + 1

    @step(name="featurize")
    def version_two(x):
        return x + 100

    assert version_one.get_cache_key({"x": 1}) != version_two.get_cache_key({"x": 1})


def test_input_hash_cache_key_ignores_a_code_change():
    @step(name="featurize", cache="input_hash")
    def version_one(x):
        return x + 1

    @step(name="featurize", cache="input_hash")
    def version_two(x):
        return x + 100

    assert version_one.get_code_hash() != version_two.get_code_hash()
    assert version_one.get_cache_key({"x": 1}, {"p": 1}) == version_two.get_cache_key({"x": 1}, {"p": 1})
    # ...but it still follows the inputs and parameters.
    assert version_one.get_cache_key({"x": 1}) != version_one.get_cache_key({"x": 2})
    assert version_one.get_cache_key({"x": 1}, {"p": 1}) != version_one.get_cache_key({"x": 1}, {"p": 2})


def test_callable_cache_makes_the_key():
    seen = []

    def by_dataset(inputs, context_params):
        seen.append((inputs, context_params))
        return f"dataset-{inputs['dataset']}"

    s = step(name="train", cache=by_dataset)(lambda dataset, noise=None: dataset)

    key = s.get_cache_key({"dataset": "v1", "noise": 1}, {"lr": 0.1})
    assert seen == [({"dataset": "v1", "noise": 1}, {"lr": 0.1})]
    assert isinstance(key, str) and key
    # Only what the function looks at matters.
    assert key == s.get_cache_key({"dataset": "v1", "noise": 2}, {"lr": 0.5})
    assert key != s.get_cache_key({"dataset": "v2", "noise": 1}, {"lr": 0.1})


def test_cache_false_gives_no_key():
    s = _double(cache=False)
    assert s.get_cache_key({"x": 1}) is None
    assert s.get_cache_key({"x": 1}, {"factor": 2}) is None


def test_dict_insertion_order_does_not_change_the_key():
    s = _double()
    one = {"x": {"a": 1, "b": [1, 2], "c": {"d": 1, "e": 2}}, "y": 3}
    two = {"y": 3, "x": {"c": {"e": 2, "d": 1}, "b": [1, 2], "a": 1}}
    assert s.get_cache_key(one, {"p": 1, "q": 2}) == s.get_cache_key(two, {"q": 2, "p": 1})


@pytest.mark.parametrize(
    "value",
    [lambda: 1, threading.Lock()],
    ids=["lambda", "lock"],
)
def test_unpicklable_input_gives_no_key(value):
    s = _double()
    assert s.get_cache_key({"x": value}) is None
    assert s.get_cache_key({"x": 1}, {"factor": value}) is None


_KEY_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import flowmod
    inputs = {"columns": {"age", "tenure", "plan"}, "rows": [[1, 2.5, "a"], (3, None, True)], "name": "churn"}
    print(flowmod.transform.get_cache_key(inputs, {"threshold": 0.8, "tags": frozenset({"x", "y"})}))
    """
)


@pytest.mark.e2e
def test_default_cache_key_is_stable_across_processes(tmp_path):
    (tmp_path / "flowmod.py").write_text(_MODULE_V1)
    repo_root = Path(__file__).resolve().parents[2]
    keys = []
    for seed in ("1", "2"):
        completed = subprocess.run(
            [sys.executable, "-c", _KEY_SCRIPT, str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=repo_root,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert completed.returncode == 0, completed.stderr
        keys.append(completed.stdout.strip())
    assert keys[0] and keys[0] != "None"
    assert keys[0] == keys[1]
