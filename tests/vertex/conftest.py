from __future__ import annotations

from typing import Any

import pytest

from runs.models import Project
from runs.registry import sync_pipelines
from stacks.models import Stack
from tests.factories import make_project, make_user
from tests.fake_vertex import FakeVertex


@pytest.fixture
def fake_vertex() -> Any:
    server = FakeVertex(step_seconds=0.05)
    yield server
    server.stop()


@pytest.fixture
def vertex_stack(transactional_db: Any, fake_vertex: FakeVertex, tmp_path: Any) -> Stack:
    return Stack.objects.create(
        name="vertex",
        kind="vertex",
        is_default=True,
        config={
            "project_id": "test-project",
            "region": "us-central1",
            "staging_bucket": "gs://test-staging",
            "image": "europe-docker.pkg.dev/test/flowsite:1",
            "api_endpoint": fake_vertex.url,
            "artifact_uri": f"file://{tmp_path}/remote-artifacts",
        },
        secrets={"API_TOKEN": "remote-secret-value"},
    )


@pytest.fixture
def vertex_project(vertex_stack: Stack, live_server: Any, settings: Any) -> Project:
    """A project whose default stack is the fake Vertex, with the live API for runners to call."""
    settings.FLOWSITE_PUBLIC_URL = live_server.url
    sync_pipelines()
    return make_project("remote", members={"owner": make_user("rita")})
