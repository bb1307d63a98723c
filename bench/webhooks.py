"""Webhook deliveries: 1,000 runs end, each notifies a local receiver that refuses a share of them at first.

    python -m bench.webhooks [--runs N] [--fail-fraction F]
    BENCH_DATABASE_URL=postgres://... python -m bench.webhooks     # PostgreSQL (dropped and created afresh)

The runs end through the real transition (which creates each delivery); the delivery loop then sends
them as a worker's task would, several at a time. The receiver is a process of its own: it checks every
signature, answers 500 to the first attempt of a `--fail-fraction` share of the messages (and to the
second attempt of half of those), and 200 otherwise. Printed: deliveries created, delivered, lost
(created but never accepted by the receiver: must be 0), retries, and throughput.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import scratch

ROOT = Path(__file__).resolve().parents[1]


def serve(secret: str, fraction: float) -> None:
    """The receiver (run as `--serve`): prints its port, then serves until stdin closes."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks import Webhook, WebhookVerificationError

    verifier = Webhook(secret)
    lock = threading.Lock()
    seen: dict[str, int] = {}
    stats = {"requests": 0, "refused": 0, "bad_signatures": 0, "accepted": set()}

    def failures_for(message_id: str) -> int:
        share = int(hashlib.sha256(message_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return 0 if share >= fraction else 2 if share < fraction / 2 else 1

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                body = json.dumps({**stats, "accepted": sorted(stats["accepted"])}).encode()
            self._reply(200, body)

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            message_id = self.headers.get("webhook-id", "")
            try:
                verifier.verify(data, dict(self.headers.items()))
            except WebhookVerificationError:
                with lock:
                    stats["requests"] += 1
                    stats["bad_signatures"] += 1
                self._reply(400, b"bad signature")
                return
            with lock:
                stats["requests"] += 1
                seen[message_id] = seen.get(message_id, 0) + 1
                refuse = seen[message_id] <= failures_for(message_id)
                if refuse:
                    stats["refused"] += 1
                else:
                    stats["accepted"].add(message_id)
            self._reply(500 if refuse else 200, b"try again" if refuse else b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--fail-fraction", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--serve", nargs=2, metavar=("SECRET", "FRACTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], float(args.serve[1]))
        return

    database = os.environ.get("BENCH_DATABASE_URL")
    scratch.start(
        "webhooks", database, FLOWSITE_NOTIFY_RETRY_BASE="0.2", FLOWSITE_NOTIFY_THREADS=str(args.threads),
        FLOWSITE_NOTIFY_ALLOW_PRIVATE="true",
    )  # fmt: skip
    import base64
    import secrets
    import urllib.request

    from django.db import connection
    from django.utils import timezone

    from accounts.models import Project
    from notifications.dispatch import delivery_loop
    from notifications.models import Delivery, DeliveryStatus, NotificationRule
    from runs.models import PipelineDef, Run, RunStatus

    stack = scratch.prepare()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhooks", "--serve", secret, str(args.fail_fraction)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = int(receiver.stdout.readline())
        url = f"http://127.0.0.1:{port}/hook"
        project = Project.objects.create(slug="bench", name="Bench")
        NotificationRule.objects.create(
            project=project,
            name="bench",
            channel="webhook",
            url=url,
            events=["failed"],
            secrets={"signing_secret": secret},
        )
        pipeline = PipelineDef.objects.filter(name="greeting").first()
        now = timezone.now()
        Run.objects.bulk_create(
            Run(project=project, pipeline=pipeline, stack=stack, status=RunStatus.RUNNING, started_at=now)
            for _ in range(args.runs)
        )
        started = time.perf_counter()
        for run in Run.objects.filter(project=project).select_related("stack"):
            run.transition((RunStatus.RUNNING,), RunStatus.FAILED, reason="bench", finished_at=timezone.now())
        ended = time.perf_counter() - started
        created = Delivery.objects.count()

        started = time.perf_counter()
        while Delivery.objects.filter(status=DeliveryStatus.PENDING).exists():
            delivery_loop()
        elapsed = time.perf_counter() - started

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
            stats = json.loads(response.read())
    finally:
        receiver.stdin.close()
        receiver.wait(10)

    ids = {f"msg_{m.hex}" for m in Delivery.objects.values_list("message_id", flat=True)}
    delivered = Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count()
    lost = len(ids - set(stats["accepted"]))
    attempts = sum(Delivery.objects.values_list("attempts", flat=True))
    print(f"database: {connection.vendor}; {args.runs} runs ended in {ended:.2f} s (deliveries created with them)")
    print(f"deliveries created: {created} (one per run)")
    print(f"delivered: {delivered}")
    print(f"lost: {lost}")
    refused, requests, bad = stats["refused"], stats["requests"], stats["bad_signatures"]
    print(f"retries: {attempts - created} (receiver refused {refused} of {requests} requests; bad signatures: {bad})")
    print(f"gave up: {Delivery.objects.filter(status=DeliveryStatus.FAILED).count()}")
    rate = delivered / elapsed
    print(f"sending: {elapsed:.2f} s, {rate:.0f} deliveries/s with {args.threads} threads (retry base 0.2 s, doubling)")
    if lost or created != args.runs:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
