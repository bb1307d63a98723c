"""Flowsite settings, read from the environment with defaults that work on a laptop."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    """The variable's value; empty counts as unset, as it does for the other helpers."""
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}")


def _env_number(name: str, default: Any, minimum: Any, parse: Callable[[str], Any], kind: str) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {kind}, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {raw!r}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    return float(_env_number(name, default, minimum, float, "a number of seconds"))


def env_int(name: str, default: int, minimum: int = 1) -> int:
    return int(_env_number(name, default, minimum, int, "a whole number"))


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Production is the default. Only the developer profile (`make run` chooses it) turns DEBUG on and
# accepts the development secret key: a debug page shows every setting, passwords in URLs included.
PROFILE = env_str("FLOWSITE_PROFILE", "production")
if PROFILE not in ("production", "dev"):
    raise ImproperlyConfigured(f"FLOWSITE_PROFILE must be production or dev, not {PROFILE!r}")
DEVELOPER_PROFILE = PROFILE == "dev"
DEBUG = env_bool("DEBUG", DEVELOPER_PROFILE)
if DEBUG and not DEVELOPER_PROFILE:
    raise ImproperlyConfigured("DEBUG is only for the developer profile (FLOWSITE_PROFILE=dev): its pages show secrets")
_DEV_SECRET_KEY = "flowsite-development-only-secret-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEVELOPER_PROFILE else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set: production is the default (for a laptop, FLOWSITE_PROFILE=dev, which make run uses)"
    )
if not DEVELOPER_PROFILE and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "SECRET_KEY must be a real secret of at least 50 characters in production, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )


def _secret_keys() -> list[str]:
    """Fernet keys for stack secrets at rest, newest first; the developer profile makes its own once."""
    from cryptography.fernet import Fernet

    keys = env_list("FLOWSITE_SECRET_KEYS", [])
    if not keys and DEVELOPER_PROFILE:
        local = BASE_DIR / ".flowsite-dev-secret-key"
        if not local.exists():
            local.write_text(Fernet.generate_key().decode() + "\n")
            local.chmod(0o600)
        keys = [local.read_text().strip()]
    if not keys:
        raise ImproperlyConfigured(
            "FLOWSITE_SECRET_KEYS must be set in production: Fernet keys for stack secrets, newest first, e.g. "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                "FLOWSITE_SECRET_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


FLOWSITE_SECRET_KEYS = _secret_keys()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Served over TLS in production, by this server or by a proxy in front of it that says so in
# X-Forwarded-Proto (FLOWSITE_BEHIND_TLS_PROXY). Plain HTTP is for the developer profile, or an
# explicit FLOWSITE_HTTPS=false (tests, a private network).
HTTPS = not DEVELOPER_PROFILE and env_bool("FLOWSITE_HTTPS", True)
SECURE_SSL_REDIRECT = HTTPS
# Load balancers probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("FLOWSITE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
FLOWSITE_BEHIND_TLS_PROXY = env_bool("FLOWSITE_BEHIND_TLS_PROXY", False)
if FLOWSITE_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # runserver leaves static files to whitenoise, as gunicorn does: Django's own handler answers a
    # /static/../ path with a 500 (SuspiciousFileOperation), whitenoise with a 404.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "csp",
    "axes",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "runs",
    "stacks",
    "schedules",
    "notifications",
    "unitjobs",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before anything looks up a value from the address; after CSP, so that its 400 page carries the policy.
    "flowsite.url_guard.RefuseNulInUrl",
    # Last, as django-axes asks: it turns a lockout raised during sign-in into its answer.
    "axes.middleware.AxesMiddleware",
]

# No inline script or style anywhere: the portal is ES modules and stylesheets from /static/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Sign-in (portal and admin) is throttled: after 5 failures for a username from an address, that pair
# waits 15 minutes. Tokens are throttled by accounts.authentication, which authenticate() never sees.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("FLOWSITE_SIGNIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_address"

ROOT_URLCONF = "flowsite.urls"
WSGI_APPLICATION = "flowsite.wsgi.application"
ASGI_APPLICATION = "flowsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'flowsite.sqlite3'}"
    # Through PgBouncer in transaction pooling a cursor cannot outlive its transaction, as the
    # server-side cursors of QuerySet.iterator() do (docs/deploy.md).
    transaction_pooling = env_bool("FLOWSITE_DB_TRANSACTION_POOLING", False)
    try:
        config = dj_database_url.parse(url)
    except Exception as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL Flowsite understands: {exc}") from None
    engine = str(config.get("ENGINE", ""))
    if engine == "django.db.backends.sqlite3":
        # WAL lets readers work while a worker writes; IMMEDIATE and a busy timeout stop
        # "database is locked" errors when the web process and workers write at once.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # Workers and their broker poll the database all the time; reconnecting each time costs more.
        config["CONN_MAX_AGE"] = None
    elif engine == "django.db.backends.postgresql":
        # A connection per thread for the thread's life (gunicorn's threads live as long as their
        # process), checked before a request reuses it.
        config["CONN_MAX_AGE"] = None
        config["CONN_HEALTH_CHECKS"] = True
        config["DISABLE_SERVER_SIDE_CURSORS"] = transaction_pooling
    else:
        raise ImproperlyConfigured(f"DATABASE_URL must point at SQLite or PostgreSQL, not {engine or url!r}")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Whitenoise warns at every start when it is missing; collectstatic fills it for production.
STATIC_ROOT.mkdir(exist_ok=True)
# Served by whitenoise, no CDN anywhere. In production from collectstatic's output (manage.py serve
# runs it), compressed and under hashed names cached for a year; in development straight from static/.
WHITENOISE_USE_FINDERS = DEVELOPER_PROFILE
if not DEVELOPER_PROFILE:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
# The production web server (manage.py serve): gunicorn processes x threads, each thread keeping one
# database connection, so the web tier never holds more than their product.
FLOWSITE_WEB_WORKERS = env_int("FLOWSITE_WEB_WORKERS", 2)
FLOWSITE_WEB_THREADS = env_int("FLOWSITE_WEB_THREADS", 4)
# Seconds gunicorn keeps an idle client connection open. Longer than the dashboard's 2-second polls:
# gunicorn's own 2 s closed connections as the next poll was sent on them. Behind a load balancer that
# keeps connections to its backends, set it longer than the balancer's idle timeout.
FLOWSITE_WEB_KEEPALIVE = env_int("FLOWSITE_WEB_KEEPALIVE", 5, minimum=0)
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["flowsite.api_parsers.StrictTextJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "flowsite.api_defaults.AutoSchema",
    "EXCEPTION_HANDLER": "flowsite.api_defaults.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flowsite API",
    # In backticks: Swagger UI reads the description as Markdown, where a bare <key> is an HTML tag and vanishes.
    "DESCRIPTION": (
        "Trigger, watch, cancel and retry ML pipeline runs. Authenticate with the header `Authorization: Token <key>`, "
        "with a key from create_token (POST /api/tokens/) or the portal. Generated clients: see the README."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Each operation's id beside its path: the name it has in a generated client (cancel_run, tail_run_logs).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "displayOperationId": True},
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are documented like PUT bodies: a partial member update without a role is refused.
    "COMPONENT_SPLIT_PATCH": False,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.models.RunStatus",
        "StepStatusEnum": "runs.models.StepStatus",
        "RoleEnum": "accounts.models.Role",
        "StreamEnum": "runs.models.LogStream",
        "NotificationEventEnum": "notifications.models.Event",
        "DeliveryStatusEnum": "notifications.models.DeliveryStatus",
    },
}
# API bodies are small JSON; a larger one is refused with a 400 before it is read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# A run's parameters (with their defaults), as JSON: every run list carries them, so a trigger whose
# parameters take more is refused, whichever door it came through.
FLOWSITE_MAX_PARAMS_BYTES = env_int("FLOWSITE_MAX_PARAMS_BYTES", 64 * 1024, minimum=2)

FLOWSITE_PIPELINES = env_list("FLOWSITE_PIPELINES", ["examples.churn"])
FLOWSITE_ARTIFACT_ROOT = Path(env_str("FLOWSITE_ARTIFACT_ROOT", str(BASE_DIR / "artifacts")))
FLOWSITE_HEARTBEAT_TIMEOUT = env_float("FLOWSITE_HEARTBEAT_TIMEOUT", 60.0, minimum=1.0)
FLOWSITE_CANCEL_GRACE = env_float("FLOWSITE_CANCEL_GRACE", 10.0)
# A Prometheus scraper sends it as a Bearer token to /metrics; without one, metrics are off.
FLOWSITE_METRICS_TOKEN = env_str("FLOWSITE_METRICS_TOKEN", "")
# Retention (runs.pruning, a daily schedule): the details of runs finished longer ago are deleted.
FLOWSITE_RETENTION_DAYS = env_int("FLOWSITE_RETENTION_DAYS", 0, minimum=0)
FLOWSITE_RETENTION_KEEP_FAILED = env_bool("FLOWSITE_RETENTION_KEEP_FAILED", False)
# What a worker calls itself when it says which pipeline code it has (several checkouts on one host
# need distinct names).
FLOWSITE_WORKER_NAME = env_str("FLOWSITE_WORKER_NAME", "") or socket.gethostname()
# How long a run's recorder keeps reconnecting and replaying a batch the database refused before
# the run is stopped and failed with reason recording_lost.
FLOWSITE_RECORDING_DEADLINE = env_float("FLOWSITE_RECORDING_DEADLINE", 120.0, minimum=1.0)
# How remote runs (Vertex AI) reach this control plane's API, and how often their jobs are checked.
FLOWSITE_PUBLIC_URL = env_str("FLOWSITE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
FLOWSITE_RECONCILE_SECONDS = env_float("FLOWSITE_RECONCILE_SECONDS", 5.0, minimum=0.1)
# Passes in a row that Vertex may refuse for good (no permission, rejected credentials) to report a run's (or a unit's)
# job before the run fails saying so: such a refusal does not heal by itself.
FLOWSITE_RECONCILE_REFUSALS = env_int("FLOWSITE_RECONCILE_REFUSALS", 5)
# How long a queued run may wait since it was last handed to the task broker before the sweeper
# hands it over again (never handed over, or its task lost while the broker's queue is empty).
FLOWSITE_REQUEUE_SECONDS = env_float("FLOWSITE_REQUEUE_SECONDS", 10.0, minimum=1.0)
# Schedules (schedules.firing): a fire time older than this when a scheduler gets to it was missed
# (no scheduler ran), and the schedule's catch-up policy decides whether it runs.
FLOWSITE_SCHEDULE_MISFIRE_GRACE = env_float("FLOWSITE_SCHEDULE_MISFIRE_GRACE", 60.0, minimum=1.0)

# Notifications (notifications/): outbound requests time out after FLOWSITE_NOTIFY_TIMEOUT seconds; a
# delivery is retried after RETRY_BASE, doubling up to RETRY_CAP seconds, until the receiver accepts, at
# most MAX_ATTEMPTS times within MAX_AGE seconds. ALLOW_PRIVATE lets rules reach loopback and private
# addresses (on in the developer profile; in production a project owner could otherwise probe the
# machine's network and read the answers).
FLOWSITE_NOTIFY_TIMEOUT = env_float("FLOWSITE_NOTIFY_TIMEOUT", 5.0, minimum=0.1)
FLOWSITE_NOTIFY_RETRY_BASE = env_float("FLOWSITE_NOTIFY_RETRY_BASE", 10.0, minimum=0.01)
FLOWSITE_NOTIFY_RETRY_CAP = env_float("FLOWSITE_NOTIFY_RETRY_CAP", 3600.0, minimum=0.01)
FLOWSITE_NOTIFY_MAX_ATTEMPTS = env_int("FLOWSITE_NOTIFY_MAX_ATTEMPTS", 12)
FLOWSITE_NOTIFY_MAX_AGE = env_float("FLOWSITE_NOTIFY_MAX_AGE", 24 * 3600.0, minimum=1.0)
FLOWSITE_NOTIFY_THREADS = env_int("FLOWSITE_NOTIFY_THREADS", 8)
FLOWSITE_NOTIFY_ALLOW_PRIVATE = env_bool("FLOWSITE_NOTIFY_ALLOW_PRIVATE", DEVELOPER_PROFILE)
# Email notifications use Django's mail settings; SMTP on localhost:25 unless told otherwise.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "sent-email"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "flowsite@localhost")

# django-q2 executes runs. A run longer than FLOWSITE_MAX_RUN_SECONDS is stopped by the
# worker's task timeout; `retry` exceeds it so a long run is not delivered twice (and a
# second delivery would do nothing anyway: a run is claimed only once).
FLOWSITE_MAX_RUN_SECONDS = env_int("FLOWSITE_MAX_RUN_SECONDS", 48 * 3600, minimum=60)
REDIS_URL = env_str("REDIS_URL", "")
Q_CLUSTER: dict[str, object] = {
    # The task queue's name: installations sharing one Redis (staging and production) need their own.
    "name": env_str("FLOWSITE_QUEUE", "flowsite"),
    "workers": env_int("FLOWSITE_WORKERS", 2),
    "timeout": FLOWSITE_MAX_RUN_SECONDS,
    "retry": FLOWSITE_MAX_RUN_SECONDS + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    # Our Run table is the record of what ran; django-q2 keeps only failed tasks.
    "save_limit": -1,
    "poll": 0.05,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    Q_CLUSTER["broker_class"] = "runs.broker.PromptRedis"
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
