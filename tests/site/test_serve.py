"""`manage.py serve`: the production server (gunicorn) with the worker cluster, as `make run` and a
single-machine deployment start it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runs.models import Run, RunStatus
from tests import cluster as clusters
from tests.runs.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, **headers: str):
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=5)
    except OSError:
        return None


def test_serve_runs_gunicorn_with_compressed_long_cached_static_files_and_a_worker(ready, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowsite.settings",  # production, as deployed (plain HTTP for the test)
        "DATABASE_URL": clusters.test_database_url(),
        "FLOWSITE_PIPELINES": "examples.churn,tests.pipelines",
        "FLOWSITE_WEB_WORKERS": "1",
        "FLOWSITE_WEB_THREADS": "2",
    }
    log = open(tmp_path / "serve.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_for(lambda: get(f"{base}/healthz"), timeout=60, what="the server to answer")
        assert health.headers["Server"].startswith("gunicorn")
        manifest = json.loads((ROOT / "staticfiles" / "staticfiles.json").read_text())["paths"]
        hashed = manifest["dashboard/app.js"]
        static = get(f"{base}/static/{hashed}", **{"Accept-Encoding": "gzip"})
        assert static is not None and static.status == 200
        assert static.headers["Content-Encoding"] == "gzip"
        assert "immutable" in static.headers["Cache-Control"] and "max-age=315360000" in static.headers["Cache-Control"]
        # A client polling every 2 s, as the dashboard does, keeps its connection: gunicorn's own
        # keep-alive of 2 s closed it just as the next poll was sent on it.
        poller = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        poller.request("GET", "/healthz")
        assert poller.getresponse().read()
        time.sleep(2.5)  # the client's idle time between polls, not a wait for the server
        poller.request("GET", "/healthz")
        assert poller.getresponse().status == 200
        poller.close()
        # The worker cluster beside it executes runs.
        run = Run.objects.trigger(project=ready, pipeline="greeting")
        wait_for(lambda: Run.objects.get(pk=run.pk).status == RunStatus.COMPLETED, timeout=60, what="the run")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()
    assert b"stopping" in (tmp_path / "serve.log").read_bytes()
    assert get(f"{base}/healthz") is None
