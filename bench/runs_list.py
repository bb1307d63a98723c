"""The runs list over HTTP under load: 20 clients at 100,000 runs, through the production server.

    python -m bench.runs_list [--runs N] [--requests N] [--clients C] [--workers W] [--threads T] [--interval S]

On a scratch PostgreSQL database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/flowsite_bench,
which the bench drops and creates afresh; a sqlite:/// URL works too, without the connection count), loads N runs
of several projects, pipelines and statuses (the newest with their steps), starts `manage.py serve --no-worker`
with a deployment's environment (production profile, plain HTTP) and gunicorn's W x T threads, and has C clients,
each a thread with its own keep-alive connection and a member's API token, send GET /api/runs/ back to back
(or one every S seconds, as the dashboard polls): the first page, a filtered page, and both mixed with triggers
(POST /api/runs/). While they do, a separate connection polls pg_stat_activity for the server's connections.
Target (issue 10): p95 <= 100 ms with 20 clients at 100,000 runs, no errors, connections within W x T: met with
--interval 2, 20 people's dashboards. Back to back the clients saturate the machine, and p95 is the queue that
builds: a first case then measures /healthz, which does no work, as the floor the machine itself sets.
Exits 1 if a request failed, or the server held more connections than its threads.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography.fernet import Fernet

from bench import scratch

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/flowsite_bench"
# The server decrypts the stack's secrets that this process wrote: one key for both.
SECRET_KEYS = Fernet.generate_key().decode()
SCRATCH = scratch.start("runs-list", database_url=DATABASE_URL, FLOWSITE_SECRET_KEYS=SECRET_KEYS)

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import ApiToken, Membership, Project, Role  # noqa: E402
from runs.models import FailureReason, PipelineDef, Run, RunStatus, StepRun  # noqa: E402
from runs.models import StepStatus as S  # noqa: E402

PROJECTS = ["churn", "fraud", "forecast", "search", "vision"]
MEMBER_OF = PROJECTS[:3]  # the clients' user sees three of the five projects
STEPS = ["load", "features", "train", "evaluate"]
WITH_STEPS = 20_000  # the newest runs have their steps; older ones are history the first pages never show
# Of 100 finished runs: most complete, some fail, a few are cancelled or die with their worker.
OUTCOMES = [RunStatus.COMPLETED] * 84 + [RunStatus.FAILED] * 11 + [RunStatus.CANCELLED] * 4 + [RunStatus.DEAD]
STEP_STATES = {
    RunStatus.COMPLETED: [S.COMPLETED, S.CACHED, S.COMPLETED, S.COMPLETED],
    RunStatus.FAILED: [S.COMPLETED, S.COMPLETED, S.FAILED, S.CANCELLED],
    RunStatus.CANCELLED: [S.COMPLETED, S.CANCELLED, S.CANCELLED, S.CANCELLED],
    RunStatus.DEAD: [S.COMPLETED, S.FAILED, S.PENDING, S.PENDING],
    RunStatus.RUNNING: [S.COMPLETED, S.RUNNING, S.PENDING, S.PENDING],
    RunStatus.QUEUED: [S.PENDING] * 4,
}
TOO_MANY = "too many clients"


def populate(runs: int) -> str:
    """N runs over the last year, newest `WITH_STEPS` with their steps; the API key of a member of three projects."""
    stack = scratch.prepare()
    users = [get_user_model().objects.create_user(name, password="pw") for name in ("alice", "bob", "carol")]
    projects = [Project.objects.create(slug=slug, name=slug.title()) for slug in PROJECTS]
    for project in projects:
        Membership.objects.create(user=users[1], project=project, role=Role.OWNER)
        if project.slug in MEMBER_OF:
            Membership.objects.create(user=users[0], project=project, role=Role.MEMBER)
    pipelines = list(PipelineDef.objects.all())
    now = timezone.now()
    spacing = timedelta(days=365) / runs
    batch = 5000
    for offset in range(0, runs, batch):
        rows = []
        for i in range(offset, min(runs, offset + batch)):
            age = runs - 1 - i  # the last run made is the newest
            created = now - spacing * age - timedelta(seconds=1)
            status = RunStatus.RUNNING if age < 3 else RunStatus.QUEUED if age < 5 else OUTCOMES[i * 37 % 100]
            started = None if status == RunStatus.QUEUED else created + timedelta(seconds=2)
            finished = started + timedelta(seconds=60 + i % 1800) if status not in (
                RunStatus.QUEUED, RunStatus.RUNNING) else None  # fmt: skip
            rows.append(
                Run(
                    project=projects[i % len(projects)], pipeline=pipelines[i % len(pipelines)], stack=stack,
                    triggered_by=users[i % len(users)], status=status, created_at=created, started_at=started,
                    finished_at=finished,
                    failure_reason=FailureReason.STEP_FAILED if status == RunStatus.FAILED else "",
                    failure_message="step train failed: ValueError: loss is NaN" if status == RunStatus.FAILED else "",
                    params={
                        "n_customers": 900 + i % 100, "learning_rate": 0.01, "epochs": 10 + i % 5, "seed": i,
                        "dataset": f"gs://team-data/{PROJECTS[i % len(PROJECTS)]}/2026-11-{1 + i % 28:02d}.parquet",
                        "features": ["tenure", "plan", "usage", "region"],
                    },
                )
            )  # fmt: skip
        made = Run.objects.bulk_create(rows)
        StepRun.objects.bulk_create(
            StepRun(run=run, name=name, position=position, status=STEP_STATES[run.status][position])
            for i, run in enumerate(made, start=offset) if i >= runs - WITH_STEPS
            for position, name in enumerate(STEPS)
        )  # fmt: skip
    _, key = ApiToken.issue(users[0], "bench")
    return key


@dataclass
class Case:
    name: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"GET": [], "POST": []})
    errors: list[str] = field(default_factory=list)  # a wrong status, or no response at all
    unanswered: int = 0
    seconds: float = 0.0
    peak_connections: list[str] | None = None  # the application name of each, at the peak
    too_many_clients: int = 0
    not_modified: int = 0  # conditional GETs answered 304


class ConnectionPoller(threading.Thread):
    """The most connections the server held to the bench database, polled from a connection of our own."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        import psycopg

        self.db = psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)
        self.own = f"flowsite pid {os.getpid()}"  # the bench's own Django connection (runs.apps names them)
        self.peak: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.02):
            names = [
                name for (name,) in self.db.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND application_name <> %s", [self.own],
                )
            ]  # fmt: skip
            with self.lock:
                if len(names) > len(self.peak):
                    self.peak = names

    def take_peak(self) -> list[str]:
        """The application names of the connections at the peak since the last call."""
        with self.lock:
            peak, self.peak = self.peak, []
        return peak

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.db.close()


def load(
    server: scratch.ProductionServer, key: str, case: Case, urls: list[str], *,
    requests: int, clients: int, trigger_every: int = 0, interval: float = 0.0, conditional: bool = False,
) -> None:  # fmt: skip
    """`requests` requests from `clients` threads: GETs of `urls` in turn, and every `trigger_every`-th a
    trigger. Each client sends its next request as soon as it has the answer, or with an `interval`, one
    every so many seconds (at once if the last one took longer), as a dashboard polls. `conditional`:
    each client sends the ETag it last had for the URL (If-None-Match), as the portal's runs list does,
    and takes a 304 as the answer it is."""
    numbers = itertools.count()
    lock = threading.Lock()

    def client(index: int) -> None:
        due = started + interval * index / clients  # spread over the first interval
        etags: dict[str, str] = {}
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Token {key}"}, timeout=60) as http:
            while True:
                if interval:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    due += interval
                with lock:
                    n = next(numbers)
                if n >= requests:
                    return
                trigger = trigger_every and n % trigger_every == trigger_every - 1
                began = time.perf_counter()
                try:
                    if trigger:
                        body = {"project": MEMBER_OF[n % len(MEMBER_OF)], "pipeline": "greeting"}
                        response = http.post("/api/runs/", json=body)
                    else:
                        url = urls[n % len(urls)]
                        asked = {"If-None-Match": etags[url]} if conditional and url in etags else {}
                        response = http.get(url, headers=asked)
                        if response.headers.get("ETag"):
                            etags[url] = response.headers["ETag"]
                except httpx.HTTPError as exc:
                    case.errors.append(f"{type(exc).__name__}: {exc}")
                    case.unanswered += 1
                    continue
                case.latencies[response.request.method].append((time.perf_counter() - began) * 1000)
                case.not_modified += response.status_code == 304
                if response.status_code not in ((201,) if trigger else (200, 304) if conditional else (200,)):
                    case.errors.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    case.seconds = time.perf_counter() - started


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.1f} ms, p95 {cuts[94]:6.1f} ms, p99 {cuts[98]:6.1f} ms, max {max(values):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="per case")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="FLOWSITE_WEB_WORKERS (gunicorn processes)")
    parser.add_argument("--threads", type=int, default=4, help="FLOWSITE_WEB_THREADS (threads per process)")
    parser.add_argument("--trigger-every", type=int, default=20, help="in the mixed case, one trigger in so many")
    parser.add_argument(
        "--interval", type=float, default=0.0,
        help="seconds between a client's requests (the dashboard polls every 2); default: back to back",
    )  # fmt: skip
    args = parser.parse_args()
    postgres = connection.vendor == "postgresql"
    started = time.perf_counter()
    key = populate(args.runs)
    if postgres:
        with connection.cursor() as cursor:
            # The planner's statistics, as autovacuum gathers them soon after a bulk load (where it is on).
            cursor.execute("ANALYZE")
    print(
        f"{connection.vendor} database {connection.settings_dict['NAME']}: {Run.objects.count():,} runs, "
        f"{StepRun.objects.count():,} steps (made in {time.perf_counter() - started:.0f} s); "
        f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    connection.close()
    bound = args.workers * args.threads
    poller = ConnectionPoller(DATABASE_URL) if postgres else None
    if poller:
        poller.start()
    server = scratch.ProductionServer(SCRATCH, args.workers, args.threads)
    first_page = "/api/runs/"
    filtered = f"/api/runs/?status=failed&project={MEMBER_OF[1]}"
    # Back to back, the clients and the server share the machine's cores: a page that costs nothing shows what
    # the load generator and gunicorn alone leave of the latency budget.
    floor = [] if args.interval else [(Case("floor: GET /healthz (no database, no sign-in)"), ["/healthz"], 0, False)]
    cases = [
        *floor,
        (Case("first page"), [first_page], 0, False),
        (Case(f"status=failed&project={MEMBER_OF[1]}"), [filtered], 0, False),
        (Case(f"mixed, 1 trigger in {args.trigger_every}"), [first_page, filtered], args.trigger_every, False),
        # As the portal polls: the ETag it had, a 304 while nothing changed, the page once a trigger changed it.
        (Case(f"polling with If-None-Match, 1 trigger in {args.trigger_every}"), [first_page, filtered],
         args.trigger_every, True),
    ]  # fmt: skip
    print(
        f"manage.py serve --no-worker: gunicorn {args.workers} x {args.threads} threads "
        f"(bound: {bound} connections); {args.clients} clients "
        f"{f'each sending one request every {args.interval:g} s' if args.interval else 'sending back to back'}, "
        f"{args.requests} requests a case"
    )
    try:
        # Every thread's first request (and its first connection) is not what a user waits for on a live server.
        load(server, key, Case("warm-up"), [first_page, filtered], requests=bound * 4, clients=args.clients)
        for case, urls, trigger_every, conditional in cases:
            before = server.log_text().count(TOO_MANY)
            if poller:
                poller.take_peak()
            load(
                server, key, case, urls, requests=args.requests, clients=args.clients, trigger_every=trigger_every,
                interval=args.interval, conditional=conditional,
            )  # fmt: skip
            case.peak_connections = poller.take_peak() if poller else None
            case.too_many_clients = server.log_text().count(TOO_MANY) - before + sum(TOO_MANY in e for e in case.errors)
            report(case, bound)
    finally:
        server.stop()
        if poller:
            poller.stop()
    failed = [case for case, _, _, _ in cases if case.errors or len(case.peak_connections or []) > bound]
    if failed:
        for case in failed:
            for error in sorted(set(case.errors))[:5]:
                print(f"  {case.name}: {error[:300]}")
        sys.exit(1)


def report(case: Case, bound: int) -> None:
    gets, posts = case.latencies["GET"], case.latencies["POST"]
    done = len(gets) + len(posts) + case.unanswered
    if case.peak_connections is None:
        connections = "not measured (SQLite)"
    else:
        peak = len(case.peak_connections)
        held = ", ".join(f"{n} by {name or '(unnamed)'}" for name, n in sorted(Counter(case.peak_connections).items()))
        connections = f"peak {peak} of {bound}{' OVER THE BOUND' if peak > bound else ''} ({held})"
    print(
        f"{case.name}: {done} requests in {case.seconds:.1f} s = {done / case.seconds:5.1f}/s, "
        f"{len(case.errors)} errors; connections {connections}"
    )
    answered = f" ({case.not_modified} of them 304 Not Modified)" if case.not_modified else ""
    print(f"  GET  {len(gets):5d}: {percentiles(gets)}{answered}")
    if posts:
        print(f"  POST {len(posts):5d}: {percentiles(posts)}; 'too many clients': {case.too_many_clients}")


if __name__ == "__main__":
    main()
