"""Settings for the test suite: the real settings, with what only tests need changed."""

import os

# The production profile, as deployed, but over plain HTTP: the live servers tests start have no TLS.
# Set in the environment so worker processes the tests start read the same.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "x9Lq2" * 8)
os.environ.setdefault("FLOWSITE_HTTPS", "false")
# Notification tests send to receivers on 127.0.0.1, and retry quickly.
os.environ.setdefault("FLOWSITE_NOTIFY_ALLOW_PRIVATE", "true")
os.environ.setdefault("FLOWSITE_NOTIFY_RETRY_BASE", "0.2")
os.environ.setdefault("FLOWSITE_SECRET_KEYS", "6k0bKHBYQpn7l_p2Oqzo1wD9YxK1mO2dXJ3v3oVXHfI=")
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("FLOWSITE_QUEUE", f"flowsite-{os.environ['PYTEST_XDIST_WORKER']}")

from .settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Live servers in tests serve static files without a collectstatic first, from the finders; an empty
# STATIC_ROOT of their own, because whitenoise scans it for every client a test makes, and a
# collectstatic (make run, manage.py serve) fills the project's with thousands of files. Whitenoise
# builds its table of the finders' files for every client too (50 ms, thousands of test clients):
# autorefresh looks each file up when it is asked for instead. tests/site/test_serve.py checks the
# production server's static files under the production settings.
STATIC_ROOT = BASE_DIR / "test-output" / "staticfiles"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Django's live server for tests serves MEDIA_ROOT at MEDIA_URL, which default to the working
# directory at every path: /flowsite/settings.py would answer with this project's source. Flowsite
# has no media; an empty folder of its own keeps the live server to what the real one serves.
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "test-output" / "media"  # noqa: F405
MEDIA_ROOT.mkdir(parents=True, exist_ok=True)

# Worker processes started by the tests must share the test database, so SQLite's is a file.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # One per test process, so that two test sessions on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-output" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

FLOWSITE_PIPELINES = env_list("FLOWSITE_PIPELINES", ["examples.churn", "tests.pipelines"])  # noqa: F405
# Parallel test processes (pytest-xdist, `make test`) each have their own database; their runs' ids
# repeat, so each also gets its own artifact folder and its own task queue on a shared Redis.
# Processes the tests start inherit PYTEST_XDIST_WORKER (and FLOWSITE_QUEUE, set before the settings
# are read) and so use the same names.
_TEST_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "")
FLOWSITE_ARTIFACT_ROOT = BASE_DIR / "test-output" / f"artifacts{'-' + _TEST_PROCESS if _TEST_PROCESS else ''}"  # noqa: F405
FLOWSITE_CANCEL_GRACE = 2.0
