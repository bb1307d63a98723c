"""The CLI and the API against a live server (pytest-django's `live_server`, a thread of this process
serving the test database), with the owner/project/stack/pipelines fixtures of the run tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accounts.models import ApiToken, Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def key(owner: Any, ready: Project) -> str:
    """An API key of the project's owner."""
    return ApiToken.issue(owner, "cli tests")[1]


@pytest.fixture
def cli(live_server: Any, key: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs `python -m flowsite.cli ARGS` as a real process against the live server, with the owner's key.

    `token=None` leaves FLOWSITE_TOKEN unset; `url` points FLOWSITE_URL elsewhere."""

    def run(
        *args: str, token: str | None = key, url: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowsite.cli", *args],
            cwd=ROOT,
            env=cli_env(url or live_server.url, token),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def cli_env(url: str, token: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("FLOWSITE_URL", "FLOWSITE_TOKEN")}
    env["FLOWSITE_URL"] = url
    if token is not None:
        env["FLOWSITE_TOKEN"] = token
    return env
