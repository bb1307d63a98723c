from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runs.models import Project
from runs.registry import sync_pipelines
from stacks.models import Stack
from tests.factories import make_project, make_stack, make_user

ROOT = Path(__file__).resolve().parents[1]
(ROOT / "test-output").mkdir(exist_ok=True)


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """A file a test pipeline's steps append to, to count what really executed."""
    return str(tmp_path / "ledger.txt")


def ledger_entries(path: str) -> list[str]:
    file = Path(path)
    return file.read_text().splitlines() if file.exists() else []


@pytest.fixture
def owner(db: Any) -> Any:
    return make_user("olivia")


@pytest.fixture
def project(owner: Any) -> Project:
    return make_project("ml", members={"owner": owner})


@pytest.fixture
def stack(db: Any) -> Stack:
    return make_stack()


@pytest.fixture
def pipelines(db: Any) -> None:
    sync_pipelines()


@pytest.fixture
def ready(project: Project, stack: Stack, pipelines: None) -> Project:
    """A project, a default local stack and the recorded test pipelines."""
    return project


@pytest.fixture
def cluster(transactional_db: Any, ready: Project) -> Any:
    """A real qcluster with two workers on the test database (and on Redis when REDIS_URL is set)."""
    from tests.cluster import Cluster

    running = Cluster(workers=2)
    yield running
    running.stop()
