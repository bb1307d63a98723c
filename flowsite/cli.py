"""Flowsite from the command line, over the REST API.

    export FLOWSITE_URL=http://127.0.0.1:8000 FLOWSITE_TOKEN=fs_...
    python -m flowsite.cli runs trigger churn-model --project demo --param n_customers=900 --wait

Exit codes: 0 done (a waited-for run completed), 1 the run failed or died, 2 bad usage or the server
refused the request, 3 the run was cancelled, 4 not signed in or not allowed, 5 server unreachable,
130 interrupted (Ctrl-C; a waited-for run goes on).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any, BinaryIO

from flowsite import strict_json

EXIT_OK, EXIT_RUN_FAILED, EXIT_REFUSED, EXIT_CANCELLED, EXIT_AUTH, EXIT_UNREACHABLE = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (128 + 2)
FINAL = {"completed": EXIT_OK, "failed": EXIT_RUN_FAILED, "dead": EXIT_RUN_FAILED, "cancelled": EXIT_CANCELLED}
POLL_SECONDS = 0.5
DOWNLOAD_BLOCK = 1024 * 1024


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, query: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        url = f"{self.url}/api/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(
                f"cannot reach {self.url}: {reason} (is FLOWSITE_URL right and the server up?)", EXIT_UNREACHABLE
            ) from None
        return json.loads(payload) if payload else None

    def download(self, path: str, query: Any, out: BinaryIO) -> None:
        """GET a file from the API into `out` a block at a time, however large it is."""
        url = f"{self.url}/api/{path}?" + urllib.parse.urlencode(query, doseq=True)
        request = urllib.request.Request(url)
        request.add_header("Authorization", f"Token {self.token}")
        try:
            response = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(
                f"cannot reach {self.url}: {reason} (is FLOWSITE_URL right and the server up?)", EXIT_UNREACHABLE
            ) from None
        with response:
            while True:
                # Only reading is the server's fault; a failed write (a full disk) is raised as it is.
                try:
                    block = response.read(DOWNLOAD_BLOCK)
                except (OSError, http.client.HTTPException) as exc:
                    raise CliError(f"the download from {self.url} was cut: {exc!r}", EXIT_UNREACHABLE) from None
                if not block:
                    return
                out.write(block)


def _refusal(exc: urllib.error.HTTPError) -> CliError:
    try:
        error = json.loads(exc.read())["error"]
        message = error["message"] or exc.reason
    except (ValueError, KeyError, TypeError):
        message = str(exc.reason)
    if exc.code == 401:
        return CliError(f"not signed in: {message} (set FLOWSITE_TOKEN to a key from POST /api/tokens/)", EXIT_AUTH)
    if exc.code == 403:
        return CliError(f"not allowed: {message}", EXIT_AUTH)
    return CliError(f"the server refused ({exc.code}): {message}", EXIT_REFUSED)


def parse_param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise CliError(f"--param takes name=value, not {text!r}", EXIT_REFUSED)
    try:
        return name, strict_json.param_value(raw)
    except ValueError as exc:
        raise CliError(f"--param {name}: {exc}", EXIT_REFUSED) from None


# The API's largest page (flowsite.api_defaults.CursorPagination.max_page_size).
MAX_PAGE_SIZE = 500


def page_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_PAGE_SIZE}, not {text!r}")
    return int(text)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _time(iso: str | None) -> str:
    """An API time as ISO 8601 to the second with its offset (2026-11-30T12:04:05+00:00): never a bare time
    a reader must guess the zone of."""
    return datetime.fromisoformat(iso).isoformat(timespec="seconds") if iso else "-"


def _run_row(run: dict[str, Any]) -> list[str]:
    return [
        str(run["id"]),
        run["status"],
        run["pipeline"],
        run["project"],
        run["stack"] or "-",
        run["triggered_by"] or "-",
        _time(run["started_at"] or run["created_at"]),
        _duration(run["duration_seconds"]),
        _steps(run),
    ]


def _steps(run: dict[str, Any]) -> str:
    """Steps that succeeded (ran or came from the cache) of all, then every other outcome by name."""
    succeeded = run["steps_completed"] + run["steps_cached"]
    others = [f"{run[f'steps_{o}']} {o}" for o in ("cached", "skipped", "failed", "cancelled") if run[f"steps_{o}"]]
    return f"{succeeded}/{run['steps_total']}" + (f" ({', '.join(others)})" if others else "")


RUN_HEADER = ["ID", "STATUS", "PIPELINE", "PROJECT", "STACK", "BY", "STARTED", "DURATION", "STEPS"]


def show_run(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(run, indent=2))
        return
    print(table([_run_row(run)], RUN_HEADER))
    if run.get("failure_message"):
        print(f"reason: {run['failure_message']}")
    if run.get("cache") is False:
        print("fresh: no step was served from the cache")
    for step in run.get("steps", []):
        note = (step["error"] or "").strip().splitlines()[-1:] or [""]
        if step["cached_from_run"]:
            note = [f"served from cache: run {step['cached_from_run']}"]
        print(f"  {step['name']:<30} {step['status']:<10} {_duration(step['duration_seconds']):>8}  {note[0][:80]}")
    if run.get("metrics"):
        print(table([[name, f"{value:g}"] for name, value in run["metrics"].items()], ["METRIC", "VALUE"]))


def wait_for(client: Client, run_id: int, quiet: bool) -> dict[str, Any]:
    last = None
    try:
        while True:
            run = client.call("GET", f"runs/{run_id}/")
            if run["status"] != last and not quiet:
                print(f"run {run_id}: {run['status']}", file=sys.stderr)
                last = run["status"]
            if run["status"] in FINAL:
                return run
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        # Ctrl-C stops the waiting, not the run: say so, and how to stop the run too.
        raise CliError(
            f"stopped waiting; run {run_id} goes on (`flowsite runs cancel {run_id}` stops it)", EXIT_INTERRUPTED
        ) from None


def cmd_pipelines(client: Client, args: argparse.Namespace) -> int:
    pipelines = client.call("GET", "pipelines/")
    if args.json:
        print(json.dumps(pipelines, indent=2))
        return EXIT_OK
    rows = [
        [
            p["name"],
            p["code_version"],
            str(len(p["dag"].get("nodes", []))),
            ", ".join(q["name"] for q in p["parameters"]),
        ]
        for p in pipelines
    ]
    print(table(rows, ["NAME", "VERSION", "STEPS", "PARAMETERS"]))
    return EXIT_OK


def cmd_runs_list(client: Client, args: argparse.Namespace) -> int:
    query = {"status": args.status or [], "page_size": args.limit}
    for name in ("project", "pipeline", "stack"):
        if getattr(args, name):
            query[name] = getattr(args, name)
    runs = client.call("GET", "runs/", query=query)["results"]
    if args.json:
        print(json.dumps(runs, indent=2))
    elif runs:
        print(table([_run_row(run) for run in runs], RUN_HEADER))
    else:
        print("no runs", file=sys.stderr)
    return EXIT_OK


def _finish(client: Client, run: dict[str, Any], args: argparse.Namespace) -> int:
    if not args.wait:
        print(json.dumps(run, indent=2) if args.json else run["id"])
        return EXIT_OK
    if not args.json:
        print(run["id"])
    run = wait_for(client, run["id"], quiet=args.json)
    show_run(client.call("GET", f"runs/{run['id']}/"), args.json)
    return FINAL[run["status"]]


def cmd_runs_trigger(client: Client, args: argparse.Namespace) -> int:
    body = {"project": args.project, "pipeline": args.pipeline, "params": dict(parse_param(p) for p in args.param)}
    if args.stack:
        body["stack"] = args.stack
    if args.fresh:
        body["cache"] = False
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    return _finish(client, client.call("POST", "runs/", body=body, headers=headers), args)


def cmd_runs_show(client: Client, args: argparse.Namespace) -> int:
    show_run(client.call("GET", f"runs/{args.run_id}/"), args.json)
    return EXIT_OK


def cmd_runs_compare(client: Client, args: argparse.Namespace) -> int:
    data = client.call("GET", "runs/compare/", query={"ids": ",".join(map(str, args.run_ids))})
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK

    def shown(value: Any) -> str:
        return "-" if value is None else f"{value:g}" if isinstance(value, float) else json.dumps(value)

    rows = []
    for section, key in (("param", "params"), ("metric", "metrics"), ("seconds", "steps")):
        for row in data[key]:
            # A row where the runs differ is marked, as the portal marks it.
            rows.append([f"{'≠' if row['differs'] else ' '} {section} {row['name']}", *map(shown, row["values"])])
    print(table(rows, ["", *(f"#{run['id']}" for run in data["runs"])]))
    return EXIT_OK


def cmd_runs_cancel(client: Client, args: argparse.Namespace) -> int:
    run = client.call("POST", f"runs/{args.run_id}/cancel/")
    print(json.dumps(run, indent=2) if args.json else f"run {run['id']}: {run['status']}")
    return EXIT_OK


def cmd_runs_retry(client: Client, args: argparse.Namespace) -> int:
    return _finish(client, client.call("POST", f"runs/{args.run_id}/retry/"), args)


def cmd_runs_logs(client: Client, args: argparse.Namespace) -> int:
    if args.all or args.output:
        return _download_log(client, args)
    if args.format:
        raise CliError("--format applies to a whole log: add --all or --output FILE", EXIT_REFUSED)
    after = 0
    while True:
        query = {"after": after, "limit": 5000}
        if args.step:
            query["step"] = args.step
        page = client.call("GET", f"runs/{args.run_id}/logs/", query=query)
        for line in page["lines"]:
            print(json.dumps(line) if args.json else f"{line['step'] or 'run'} | {line['text']}")
        after = page["next_after"]
        if page["complete"]:
            return FINAL.get(page["run_status"], EXIT_OK) if args.follow else EXIT_OK
        if not page["lines"]:
            if not args.follow:
                return EXIT_OK
            time.sleep(POLL_SECONDS)


def _download_log(client: Client, args: argparse.Namespace) -> int:
    """The whole log as it stands, in one streamed download, to stdout or to a file."""
    if args.follow:
        raise CliError("--follow tails the log as it is written; --all and --output take it as it stands", EXIT_REFUSED)
    query = {"file_format": args.format or ("ndjson" if args.json else "text")}
    if args.step:
        query["step"] = args.step
    path = f"runs/{args.run_id}/logs/download/"
    if not args.output:
        client.download(path, query, sys.stdout.buffer)
        sys.stdout.flush()
        return EXIT_OK
    # Written beside the target and renamed once complete: a cut download never passes for the whole log.
    partial = f"{args.output}.part"
    try:
        with open(partial, "wb") as out:
            client.download(path, query, out)
        os.replace(partial, args.output)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_REFUSED) from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return EXIT_OK


SCHEDULE_HEADER = ["ID", "PROJECT", "PIPELINE", "STACK", "CRON", "ZONE", "STATE", "OVERLAP", "CATCH-UP", "NEXT FIRE"]


def _schedule_row(schedule: dict[str, Any]) -> list[str]:
    return [
        str(schedule["id"]), schedule["project"], schedule["pipeline"], schedule["stack"], schedule["cron"],
        schedule["timezone"], "paused" if schedule["paused"] else "active", schedule["overlap"], schedule["catch_up"],
        (schedule["next_fire_times"] or ["-"])[0],
    ]  # fmt: skip


def show_schedule(schedule: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(schedule, indent=2))
        return
    print(table([_schedule_row(schedule)], SCHEDULE_HEADER))
    if schedule["params"]:
        print(f"params: {json.dumps(schedule['params'])}")
    for at in schedule["next_fire_times"]:
        print(f"  next: {at}")


def cmd_schedules_list(client: Client, args: argparse.Namespace) -> int:
    query = {name: getattr(args, name) for name in ("project", "pipeline") if getattr(args, name)}
    schedules = client.call("GET", "schedules/", query=query)
    if args.json:
        print(json.dumps(schedules, indent=2))
    elif schedules:
        print(table([_schedule_row(schedule) for schedule in schedules], SCHEDULE_HEADER))
    else:
        print("no schedules", file=sys.stderr)
    return EXIT_OK


def cmd_schedules_create(client: Client, args: argparse.Namespace) -> int:
    body = {
        "project": args.project, "pipeline": args.pipeline, "cron": args.cron, "timezone": args.timezone,
        "params": dict(parse_param(p) for p in args.param), "overlap": args.overlap, "catch_up": args.catch_up,
        "paused": args.paused,
    }  # fmt: skip
    if args.stack:
        body["stack"] = args.stack
    show_schedule(client.call("POST", "schedules/", body=body), args.json)
    return EXIT_OK


def cmd_schedules_act(client: Client, args: argparse.Namespace) -> int:
    if args.command == "delete":
        client.call("DELETE", f"schedules/{args.schedule_id}/")
        print(json.dumps({"deleted": args.schedule_id}) if args.json else f"schedule {args.schedule_id}: deleted")
        return EXIT_OK
    if args.command == "show":
        show_schedule(client.call("GET", f"schedules/{args.schedule_id}/"), args.json)
        return EXIT_OK
    show_schedule(client.call("POST", f"schedules/{args.schedule_id}/{args.command}/"), args.json)
    return EXIT_OK


def _in_project(project: str, what: str) -> str:
    return f"projects/{urllib.parse.quote(project, safe='')}/{what}/"


def cmd_notify_rules(client: Client, args: argparse.Namespace) -> int:
    rules = client.call("GET", _in_project(args.project, "notification-rules"))
    if args.json:
        print(json.dumps(rules, indent=2))
        return EXIT_OK
    destination = {
        "webhook": lambda r: r["url"],
        "email": lambda r: ", ".join(r["recipients"]),
        "slack": lambda r: "Slack",
    }
    rows = [
        [
            str(r["id"]),
            r["name"],
            ",".join(r["events"]),
            r["channel"],
            destination[r["channel"]](r),
            "on" if r["enabled"] else "off",
        ]
        for r in rules
    ]
    print(table(rows, ["ID", "NAME", "EVENTS", "CHANNEL", "SENDS TO", "ENABLED"]))
    return EXIT_OK


def _delivery_row(d: dict[str, Any]) -> list[str]:
    answer = str(d["response_code"]) if d["response_code"] is not None else (d["error"] or "-")
    return [
        str(d["id"]), d["created_at"][:19].replace("T", " "), str(d["run"]), d["event"], d["rule_name"], d["status"],
        str(d["attempts"]), answer[:60],
    ]  # fmt: skip


DELIVERY_HEADER = ["ID", "CREATED", "RUN", "EVENT", "RULE", "STATUS", "ATTEMPTS", "ANSWER"]


def cmd_notify_deliveries(client: Client, args: argparse.Namespace) -> int:
    query = {"status": args.status or [], "page_size": args.limit}
    page = client.call("GET", _in_project(args.project, "deliveries"), query=query)
    if args.json:
        print(json.dumps(page["results"], indent=2))
        return EXIT_OK
    print(table([_delivery_row(d) for d in page["results"]], DELIVERY_HEADER))
    return EXIT_OK


def cmd_notify_resend(client: Client, args: argparse.Namespace) -> int:
    delivery = client.call("POST", _in_project(args.project, "deliveries") + f"{args.delivery_id}/resend/")
    if args.json:
        print(json.dumps(delivery, indent=2))
    else:
        print(f"delivery {delivery['id']} will be sent again")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flowsite.cli", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[-1]
    )
    parser.add_argument("--url", default=os.environ.get("FLOWSITE_URL", "http://127.0.0.1:8000"), help="$FLOWSITE_URL")
    parser.add_argument("--token", default=os.environ.get("FLOWSITE_TOKEN", ""), help="$FLOWSITE_TOKEN")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    # --json is also accepted after the command (`runs list --json`).
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    groups = parser.add_subparsers(dest="group", required=True)

    pipelines = groups.add_parser("pipelines", help="registered pipelines").add_subparsers(
        dest="command", required=True
    )
    pipelines.add_parser("list", parents=[output], help="each pipeline with its version and parameters").set_defaults(
        func=cmd_pipelines
    )

    runs = groups.add_parser("runs", help="pipeline runs").add_subparsers(dest="command", required=True)
    listing = runs.add_parser("list", parents=[output], help="recent runs, newest first")
    listing.add_argument("--status", action="append", help="repeat for several")
    listing.add_argument("--project")
    listing.add_argument("--pipeline")
    listing.add_argument("--stack")
    listing.add_argument("--limit", type=page_size, default=20, help=f"1 to {MAX_PAGE_SIZE} (default 20)")
    listing.set_defaults(func=cmd_runs_list)

    trigger = runs.add_parser("trigger", parents=[output], help="start a run")
    trigger.add_argument("pipeline")
    trigger.add_argument("--project", required=True)
    trigger.add_argument("--stack")
    trigger.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="value read as JSON if it is"
    )
    trigger.add_argument("--wait", action="store_true", help="wait for the run; the exit code follows its outcome")
    trigger.add_argument("--idempotency-key", help="a replay with the same key returns the same run")
    trigger.add_argument("--fresh", action="store_true", help="execute every step, serving none from the cache")
    trigger.set_defaults(func=cmd_runs_trigger)

    compare = runs.add_parser("compare", parents=[output], help="2 to 10 runs side by side, differences marked ≠")
    compare.add_argument("run_ids", type=int, nargs="+")
    compare.set_defaults(func=cmd_runs_compare)

    for name, func, text in (
        ("show", cmd_runs_show, "a run with its steps and metrics"),
        ("cancel", cmd_runs_cancel, "cancel a run"),
        ("retry", cmd_runs_retry, "retry a failed run, reusing what completed"),
        ("logs", cmd_runs_logs, "a run's log"),
    ):
        sub = runs.add_parser(name, parents=[output], help=text)
        sub.add_argument("run_id", type=int)
        sub.set_defaults(func=func)
        if name == "retry":
            sub.add_argument("--wait", action="store_true", help="wait for the new run")
        if name == "logs":
            sub.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
            sub.add_argument("--step")
            sub.add_argument("--all", action="store_true", help="the whole log as it stands, to stdout")
            sub.add_argument("--output", "-o", metavar="FILE", help="the whole log as it stands, into FILE")
            sub.add_argument(
                "--format", choices=["text", "ndjson"], help="of the whole log: text, or JSON lines (--json's default)"
            )

    schedules = groups.add_parser("schedules", help="pipelines run on a cron schedule").add_subparsers(
        dest="command", required=True
    )
    listing = schedules.add_parser("list", parents=[output], help="schedules with their next fire time")
    listing.add_argument("--project")
    listing.add_argument("--pipeline")
    listing.set_defaults(func=cmd_schedules_list)
    create = schedules.add_parser("create", parents=[output], help="run a pipeline on a cron schedule")
    create.add_argument("pipeline")
    create.add_argument("--project", required=True)
    create.add_argument(
        "--cron", required=True, help="'minute hour day month weekday', and optionally seconds sixth: '0 9 * * 1-5'"
    )
    create.add_argument("--timezone", default="UTC", help="an IANA zone the cron is read in (default UTC)")
    create.add_argument("--stack")
    create.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="value read as JSON if it is"
    )
    create.add_argument("--overlap", choices=["skip", "queue"], default="skip", help="while the previous run is active")
    create.add_argument(
        "--catch-up", choices=["skip", "once"], default="skip", help="for fire times missed in downtime"
    )
    create.add_argument("--paused", action="store_true", help="create it paused")
    create.set_defaults(func=cmd_schedules_create)
    for name, text in (
        ("show", "a schedule with its next five fire times"),
        ("pause", "stop firing (runs already started go on)"),
        ("resume", "fire again from the next fire time"),
        ("delete", "delete a schedule"),
    ):
        sub = schedules.add_parser(name, parents=[output], help=text)
        sub.add_argument("schedule_id", type=int)
        sub.set_defaults(func=cmd_schedules_act)
    notify = groups.add_parser("notifications", help="a project's notification rules and deliveries").add_subparsers(
        dest="command", required=True
    )
    rules = notify.add_parser("rules", parents=[output], help="the project's rules")
    rules.add_argument("--project", required=True)
    rules.set_defaults(func=cmd_notify_rules)
    deliveries = notify.add_parser("deliveries", parents=[output], help="recent deliveries, newest first")
    deliveries.add_argument("--project", required=True)
    deliveries.add_argument(
        "--status", action="append", choices=["pending", "delivered", "failed"], help="repeat for several"
    )
    deliveries.add_argument("--limit", type=page_size, default=20, help=f"1 to {MAX_PAGE_SIZE} (default 20)")
    deliveries.set_defaults(func=cmd_notify_deliveries)
    resend = notify.add_parser("resend", parents=[output], help="send a delivery again")
    resend.add_argument("delivery_id", type=int)
    resend.add_argument("--project", required=True)
    resend.set_defaults(func=cmd_notify_resend)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.token:
        return _fail("no API token: set FLOWSITE_TOKEN (create one with POST /api/tokens/ or in the portal)", EXIT_AUTH)
    try:
        return int(args.func(Client(args.url, args.token), args))
    except CliError as exc:
        return _fail(str(exc), exc.code)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)


def _fail(message: str, code: int) -> int:
    print(f"flowsite: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
