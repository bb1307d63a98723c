from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS

from accounts.models import Project
from runs.registry import sync_pipelines
from stacks.models import Stack
from tests import prompt_live_server  # noqa: F401  (Django's live server, with TCP_NODELAY)
from tests.emptying import remember_what_migrations_made
from tests.factories import make_project, make_stack, make_user

ROOT = Path(__file__).resolve().parents[1]
(ROOT / "test-output").mkdir(exist_ok=True)

# `make test-fast` runs what carries none of the marks e2e, browser and slow (registered in pyproject.toml).
# A test that starts processes of its own (a run's child, a server, the CLI) or takes seconds for another reason
# says so where it is written: `pytestmark = pytest.mark.e2e` (or `slow`) at the top of its module, or
# `@pytest.mark.e2e` on the one test. Those that use a browser or a real cluster, server or fake Vertex are
# marked here by their fixtures, so that no new one is forgotten.
BROWSER_FIXTURES = {"browser", "new_page"}
REAL_PROCESS_FIXTURES = {"cluster", "live_server", "fake_vertex"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        elif used & REAL_PROCESS_FIXTURES:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The test database as migrations made it, which transactional tests leave as they found it."""
    with django_db_blocker.unblock():
        remember_what_migrations_made(DEFAULT_DB_ALIAS)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttling counts live in the cache; each test starts with none."""
    cache.clear()


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


@pytest.fixture
def fake_vertex() -> Any:
    """A local Vertex AI server that runs each job's command as a real subprocess."""
    from tests.fake_vertex import FakeVertex

    server = FakeVertex(step_seconds=0.05)
    yield server
    server.stop()


@pytest.fixture
def vertex_stack(transactional_db: Any, fake_vertex: Any, tmp_path: Path) -> Stack:
    return Stack.objects.create(
        name="vertex",
        kind="vertex",
        is_default=True,
        open_to_all_projects=True,
        config={
            "project_id": "test-project",
            "region": "us-central1",
            "staging_bucket": "gs://test-staging",
            "image": "europe-docker.pkg.dev/test/flowsite:1",
            "api_endpoint": fake_vertex.url,
            # Cloud Logging too, so that no test's silent job asks the real Google for its log.
            "logging_endpoint": fake_vertex.url,
            "artifact_uri": f"file://{tmp_path}/remote-artifacts",
            # One job per run, as stacks made before placement per unit have it (tests/vertex/test_vertex_units.py
            # has the stacks placed per unit).
            "placement": "run",
        },
        secrets={"API_TOKEN": "remote-secret-value"},
    )


@pytest.fixture
def vertex_project(vertex_stack: Stack, live_server: Any, settings: Any) -> Project:
    """A project whose default stack is the fake Vertex, with the live API for runners to call."""
    settings.FLOWSITE_PUBLIC_URL = live_server.url
    sync_pipelines()
    return make_project("remote", members={"owner": make_user("rita")})
