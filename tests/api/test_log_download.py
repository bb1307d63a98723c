"""/api/runs/{id}/logs/download/: the whole log as a streamed file, in text or NDJSON, in constant memory."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from runs.models import LogLine, Run, RunStatus

from .helpers import error, trigger

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

AT = datetime(2030, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)


def insert_lines(run: Run, count: int, step: str = "chatter") -> None:
    """`count` lines "line 1" … "line N" (seq 1 … N), written by the database itself: fast for millions."""
    table = connection.ops.quote_name(LogLine._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (run_id, step, seq, stream, level, text, at) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            "SELECT %s, %s, i, 'stdout', 'INFO', 'line ' || i, %s FROM n",
            [count, run.pk, step, connection.ops.adapt_datetimefield_value(AT)],
        )


def download(client, run: Run, **params):
    response = client.get(f"/api/runs/{run.pk}/logs/download/", params)
    assert response.status_code == 200, response.content
    assert response.streaming, "the log is streamed, never built whole"
    return response


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def long_run(ready) -> Run:
    """A finished run with 12,345 lines: more than two chunks of the download's reads."""
    run = trigger(ready, "chatty")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    insert_lines(run, 12_345)
    return run


def test_text_is_every_line_in_order(as_, long_run):
    response = download(as_("viewer"), long_run, file_format="text")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="run{long_run.pk}-log.txt"'
    assert response["X-Next-After"] == "12345"
    assert body(response) == "".join(f"line {i}\n" for i in range(1, 12_346))


def test_text_is_the_default_format(as_, long_run):
    response = download(as_("viewer"), long_run)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert body(response).count("\n") == 12_345


def test_ndjson_is_every_line_with_its_fields_in_order(as_, long_run):
    response = download(as_("viewer"), long_run, file_format="ndjson")
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"] == f'attachment; filename="run{long_run.pk}-log.ndjson"'
    records = [json.loads(line) for line in body(response).splitlines()]
    assert len(records) == 12_345
    assert records[0] == {
        "seq": 1, "at": "2030-01-01T12:00:00.250000+00:00", "step": "chatter", "stream": "stdout",
        "level": "INFO", "text": "line 1",
    }  # fmt: skip
    assert [r["seq"] for r in records] == list(range(1, 12_346))
    assert [r["text"] for r in records] == [f"line {i}" for i in range(1, 12_346)]
    assert datetime.fromisoformat(records[-1]["at"]) == AT


def test_a_run_of_an_executed_pipeline_downloads_as_its_json_pages_read(api, transactional_db, ready, viewer):
    from tests.runs.helpers import execute

    run = execute(trigger(ready, "exploding"))
    client = api(viewer)
    page = client.get(f"/api/runs/{run.pk}/logs/", {"limit": 10000}).json()
    records = [json.loads(line) for line in body(download(client, run, format="ndjson")).splitlines()]
    assert [(r["seq"], r["step"], r["stream"], r["level"], r["text"]) for r in records] == [
        (line["seq"], line["step"], line["stream"], line["level"], line["text"]) for line in page["lines"]
    ]
    assert [datetime.fromisoformat(r["at"]) for r in records] == [
        datetime.fromisoformat(line["at"].replace("Z", "+00:00")) for line in page["lines"]
    ]
    assert body(download(client, run)).splitlines()[-1] == "ValueError: bad input"


def test_step_selects_one_steps_lines(as_, ready):
    run = trigger(ready, "greeting")
    LogLine.objects.bulk_create(
        LogLine(run=run, seq=seq, step="a" if seq % 2 else "b/c", stream="stdout", level="INFO", text=str(seq), at=AT)
        for seq in range(1, 21)
    )
    response = download(as_("viewer"), run, step="b/c")
    assert body(response) == "".join(f"{seq}\n" for seq in range(2, 21, 2))
    assert response["Content-Disposition"] == f'attachment; filename="run{run.pk}-b_c-log.txt"'
    assert body(download(as_("viewer"), run, step="nope")) == ""


def test_an_empty_log_is_an_empty_file(as_, ready):
    run = trigger(ready)
    response = download(as_("viewer"), run, format="ndjson")
    assert body(response) == ""
    assert response["X-Next-After"] == "0"


def test_a_live_runs_download_ends_with_the_lines_stored_when_it_was_asked_for(as_, ready):
    run = trigger(ready, "chatty")
    insert_lines(run, 10)
    response = download(as_("viewer"), run)
    LogLine.objects.create(run=run, seq=11, step="chatter", stream="stdout", level="INFO", text="later", at=AT)
    assert body(response) == "".join(f"line {i}\n" for i in range(1, 11))
    assert response["X-Next-After"] == "10"


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("member", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]
)
@pytest.mark.parametrize("fmt", ["text", "ndjson"])
def test_who_may_download(as_, long_run, other_project, who, status, fmt):
    response = as_(who).get(f"/api/runs/{long_run.pk}/logs/download/", {"file_format": fmt})
    assert response.status_code == status
    if status == 200:
        assert body(response).count("\n") == 12_345
        return
    err = error(response)
    assert response["Content-Type"] == "application/json"
    assert err["code"] == {404: "not_found", 401: "not_authenticated"}[status]


@pytest.mark.parametrize("name", ["file_format", "format"])
@pytest.mark.parametrize("fmt", ["csv", "json", "TEXT", "x" * 100])
def test_an_unknown_format_is_a_400_naming_it(as_, long_run, fmt, name):
    response = as_("viewer").get(f"/api/runs/{long_run.pk}/logs/download/", {name: fmt})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert error(response)["fields"] == {name: f"must be one of text, ndjson, not {fmt[:40]!r}"}


def test_format_is_still_taken_as_the_older_name_of_file_format(as_, long_run):
    response = download(as_("viewer"), long_run, format="ndjson")
    assert response["Content-Type"] == "application/x-ndjson"


def test_an_unknown_or_malformed_run_is_a_404(as_, ready):
    client = as_("owner")
    for run_id in ("999999", "abc"):
        response = client.get(f"/api/runs/{run_id}/logs/download/")
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"


def test_text_pages_carry_their_cursor_in_headers(as_, long_run):
    client = as_("viewer")
    collected, after = [], 0
    while True:
        response = client.get(f"/api/runs/{long_run.pk}/logs/text/", {"after": after, "limit": 5000})
        assert response.status_code == 200
        collected += response.content.decode().splitlines()
        after = int(response["X-Next-After"])
        if response["X-Log-Complete"] == "true":
            break
        assert len(collected) < 12_345, "complete once the last line was returned"
    assert collected == [f"line {i}" for i in range(1, 12_346)]
    assert after == 12_345
    json_page = client.get(f"/api/runs/{long_run.pk}/logs/", {"after": 12_000}).json()
    assert json_page["next_after"] == 12_345 and json_page["complete"] is True


ERROR = {"$ref": "#/components/schemas/Error"}


def test_the_schema_documents_the_download_and_the_cursor_headers(api, owner):
    paths = api(owner).get("/api/schema/", {"format": "json"}).json()["paths"]
    download = paths["/api/runs/{id}/logs/download/"]["get"]
    ok = download["responses"]["200"]
    assert ok["content"] == {
        "text/plain": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/LogLine"}},
    }
    assert {"Content-Disposition", "X-Next-After"} <= set(ok["headers"])
    assert {p["name"]: p["schema"].get("enum") for p in download["parameters"] if p["in"] == "query"} == {
        "file_format": ["ndjson", "text"], "format": ["ndjson", "text"], "step": None,
    }  # fmt: skip
    assert [p["name"] for p in download["parameters"] if p.get("deprecated")] == ["format"]
    for code in ("400", "401", "404"):
        assert download["responses"][code]["content"] == {"application/json": {"schema": ERROR}}
    # Each media type its own operation, so that a generated client parses each answer as what it is.
    page = paths["/api/runs/{id}/logs/"]["get"]["responses"]["200"]
    assert page["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/LogPage"}}}
    assert {"X-Next-After", "X-Log-Complete"} <= set(page["headers"])
    text = paths["/api/runs/{id}/logs/text/"]["get"]
    assert text["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert text["responses"]["200"]["headers"]["X-Next-After"]["schema"] == {"type": "integer"}
    assert {"X-Next-After", "X-Log-Complete"} <= set(text["responses"]["200"]["headers"])
    assert {p["name"] for p in text["parameters"] if p["in"] == "query"} == {"after", "step", "limit"}
    for code in ("400", "401", "404"):
        assert text["responses"][code]["content"] == {"application/json": {"schema": ERROR}}


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_million_lines_stream_in_constant_memory(as_, ready):
    """The download holds one chunk of lines at a time: memory does not grow with the log.

    Measured as the rise of this process's resident memory while it consumes the response (tracing
    every allocation would make the test five times slower). Holding the million rows at once makes
    it rise by some 150 MiB; streaming them, by about 1."""
    lines = 1_000_000
    run = trigger(ready, "chatty")
    insert_lines(run, lines)
    client = as_("viewer")
    before = resident_bytes()
    response = download(client, run, format="text")
    received = size = rise = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        first, _, rest = chunk.partition(b"\n")
        last = rest.rstrip(b"\n").rpartition(b"\n")[2] or first
        count = chunk.count(b"\n")
        assert (first, last) == (b"line %d" % (received + 1), b"line %d" % (received + count)), "every line, in order"
        received += count
        rise = max(rise, resident_bytes() - before)
    print(f"\n{lines:,} lines ({size / 2**20:.1f} MiB) streamed; resident memory rose at most {rise / 2**20:.1f} MiB")
    assert received == lines
    assert rise < 32 * 2**20, f"resident memory rose {rise / 2**20:.1f} MiB for a log of {size / 2**20:.1f} MiB"
