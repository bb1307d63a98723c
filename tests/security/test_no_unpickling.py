"""The web tier never unpickles an artifact: a pickle is code, and a run's outputs are the user's.

An artifact whose unpickling would create a file is served through every endpoint that shows artifacts;
the file never appears. And no module of the web tier imports pickle or the worker's artifact loader.
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
from django.utils import timezone

from runs.models import Artifact
from tests.api.helpers import trigger

ROOT = Path(__file__).resolve().parents[2]
WEB_TIER = ["runs/api", "dashboard", "accounts", "stacks/api.py", "runs/comparison.py", "flowsite/urls.py"]


class Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.django_db
def test_showing_an_artifact_never_unpickles_it(ready, owner, client, tmp_path):
    marker = tmp_path / "unpickled"
    run = trigger(ready, "greeting")
    artifact = Artifact.objects.create(
        run=run, step="hello", name="greeting", uri="inline:ml/1/hello/greeting", data=pickle.dumps(Trap(marker)),
        size=1, preview={"kind": "text", "text": "shown instead", "length": 13, "type": "builtins.str"},
        created_at=timezone.now(),
    )  # fmt: skip
    client.force_login(owner)
    for path in (f"/api/runs/{run.pk}/", f"/api/runs/{run.pk}/artifacts/", f"/api/artifacts/{artifact.pk}/",
                 f"/api/artifacts/{artifact.pk}/download/", f"/runs/{run.pk}/"):  # fmt: skip
        assert client.get(path).status_code == 200, path
    assert client.get(f"/api/runs/{run.pk}/artifacts/").json()[0]["preview"]["text"] == "shown instead"
    assert not marker.exists()


def _modules() -> list[Path]:
    paths: list[Path] = []
    for entry in WEB_TIER:
        path = ROOT / entry
        paths.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return paths


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_web_module_imports_pickle_or_the_artifact_loader(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] not in ("pickle", "dill", "cloudpickle") for alias in node.names), path
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in ("pickle", "dill", "cloudpickle"), path
            assert "load_artifact" not in {alias.name for alias in node.names}, path
        elif isinstance(node, ast.Attribute):
            assert (
                node.attr not in ("loads", "load") or not isinstance(node.value, ast.Name) or node.value.id != "pickle"
            ), path
