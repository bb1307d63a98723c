"""Bad settings fail at start with a message that names the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

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
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set: production is the default"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be a real secret of at least 50 characters"),
        (
            {"SECRET_KEY": "flowsite-development-only-secret-key-do-not-use-in-production"},
            "SECRET_KEY must be a real secret",
        ),
        ({"DEBUG": "true"}, "DEBUG is only for the developer profile"),
        ({"FLOWSITE_PROFILE": "staging"}, "FLOWSITE_PROFILE must be production or dev"),
        ({"FLOWSITE_SECRET_KEYS": ""}, "FLOWSITE_SECRET_KEYS must be set in production"),
        ({"FLOWSITE_SECRET_KEYS": "not-a-key"}, "FLOWSITE_SECRET_KEYS holds a value that is not a Fernet key"),
        ({"FLOWSITE_WEB_KEEPALIVE": "long"}, "FLOWSITE_WEB_KEEPALIVE must be a whole number"),
        ({"FLOWSITE_WEB_KEEPALIVE": "-1"}, "FLOWSITE_WEB_KEEPALIVE must be at least 0"),
        ({"FLOWSITE_DB_TRANSACTION_POOLING": "pgbouncer"}, "FLOWSITE_DB_TRANSACTION_POOLING must be true or false"),
    ],
)
def test_bad_settings_stop_the_start_with_a_clear_message(env, message):
    result = start_with(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_developer_profile_starts_without_any_other_environment():
    result = start_with(FLOWSITE_PROFILE="dev", SECRET_KEY="", FLOWSITE_HTTPS="", FLOWSITE_SECRET_KEYS="")
    assert result.returncode == 0, result.stderr


PRODUCTION = {"SECRET_KEY": "a-real-production-secret-" + "Zq7wPk" * 6, "FLOWSITE_HTTPS": "", "DEBUG": ""}


def test_production_is_the_default_and_hardened():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "flowsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.stdout.split() == ["False", "True", "True", "True", "31536000"], result.stderr


def test_check_deploy_passes_with_no_warning_under_the_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "flowsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(("pooling", "disabled"), [("", False), ("true", True)])
def test_transaction_pooling_turns_server_side_cursors_off(pooling, disabled):
    # PgBouncer in transaction pooling hands the server connection to another client after each
    # transaction: a cursor that QuerySet.iterator() keeps open across transactions would be lost.
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"],
        cwd=ROOT,
        env={
            **os.environ, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "flowsite.settings",
            "DATABASE_URL": "postgres://flowsite@pgbouncer.internal:6432/flowsite",
            "FLOWSITE_DB_TRANSACTION_POOLING": pooling,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.stdout.split() == [str(disabled)], result.stderr
