"""Settings for the test suite: the real settings, with what only tests need changed."""

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Worker processes started by the tests must share the test database, so SQLite's is a file.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-output" / "test.sqlite3")}  # noqa: F405

FLOWSITE_PIPELINES = ["examples.churn", "tests.pipelines"]
FLOWSITE_ARTIFACT_ROOT = BASE_DIR / "test-output" / "artifacts"  # noqa: F405
FLOWSITE_CANCEL_GRACE = 2.0
