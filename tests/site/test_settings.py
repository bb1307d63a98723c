"""Bad settings fail at start with a message that names the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_with(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(env, DJANGO_SETTINGS_MODULE="flowsite.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"FLOWSITE_HEARTBEAT_TIMEOUT": "soon"}, "FLOWSITE_HEARTBEAT_TIMEOUT must be a number of seconds"),
        ({"FLOWSITE_CANCEL_GRACE": "-1"}, "FLOWSITE_CANCEL_GRACE must be at least 0"),
        ({"DATABASE_URL": "mysql://root@localhost/db"}, "DATABASE_URL must point at SQLite or PostgreSQL"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off"),
    ],
)
def test_bad_settings_stop_the_start_with_a_clear_message(env, message):
    result = start_with(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_defaults_start_without_any_environment():
    result = start_with()
    assert result.returncode == 0, result.stderr
