from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS

from accounts.models import Project
from runs.registry import sync_pipelines
from stacks.models import Stack
from tests.emptying import remember_what_migrations_made
from tests.factories import make_project, make_stack, make_user

ROOT = Path(__file__).resolve().parents[1]
(ROOT / "test-output").mkdir(exist_ok=True)

# `make test-fast` runs what carries none of the marks e2e, browser and slow. Marked here, in one place:
# by the fixtures a test uses, so that no new browser or cluster test is forgotten, and by module for the
# tests that start processes of their own (a run's child, a server, the CLI) or load much data: a module,
# or one test of it by its node id.
BROWSER_FIXTURES = {"browser", "new_page"}
REAL_PROCESS_FIXTURES = {"cluster", "live_server", "fake_vertex"}
E2E_MODULES = {
    "tests/faults/", "tests/cli/", "tests/site/test_serve.py", "tests/runs/test_execution.py",
    "tests/runs/test_worker.py", "tests/runs/test_code_versions.py", "tests/api/test_worker_api.py",
    "tests/api/test_logs.py", "tests/api/test_run_record.py", "tests/vertex/test_vertex_runs.py",
    "tests/vertex/test_vertex_ownership.py", "tests/security/test_production_settings.py",
    "tests/test_examples.py", "tests/notifications/test_worker.py", "tests/schedules/test_scheduler_health.py",
    "tests/api/test_create_token_command.py", "tests/test_metrics_bench.py",
    "tests/vertex/test_vertex_unit.py::test_validating_a_config_does_not_import_the_sdk",
    "tests/engine/test_step.py::test_code_hash_is_stable_across_processes",
    "tests/engine/test_step.py::test_default_cache_key_is_stable_across_processes",
    "tests/engine/test_step.py::test_code_hash_changes_when_the_source_changes",
}  # fmt: skip
SLOW_MODULES = {
    "tests/test_bench.py", "tests/api/test_schema.py", "tests/api/test_log_download.py",
    "tests/security/test_bad_input.py", "tests/contract/test_typescript.py", "tests/api/test_runs_list_plans.py",
    "tests/runs/test_project_move.py", "tests/security/test_secrets_at_rest.py::test_the_migration",
    "tests/security/test_stack_grants.py::test_the_migration",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        elif used & REAL_PROCESS_FIXTURES or item.nodeid.startswith(tuple(E2E_MODULES)):
            item.add_marker(pytest.mark.e2e)
        elif item.nodeid.startswith(tuple(SLOW_MODULES)):
            item.add_marker(pytest.mark.slow)


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
