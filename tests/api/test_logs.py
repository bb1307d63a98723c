"""/api/runs/{id}/logs/: pages of lines in order, a cursor to follow, and tailing a live run."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from runs.models import FINAL_RUN_STATES, LogLine, Run, RunStatus
from tests.runs.helpers import Background, execute

from .helpers import error, trigger

pytestmark = pytest.mark.e2e


def logs(client, run, **params):
    response = client.get(f"/api/runs/{run.pk}/logs/", params)
    assert response.status_code == 200, response.content
    return response.json()


def texts(page) -> list[str]:
    return [line["text"] for line in page["lines"]]


@pytest.fixture
def chatty_run(transactional_db, ready, owner):
    """A finished run that printed "line 0" … "line 29" (seq 1 … 30)."""
    run = execute(trigger(ready, "chatty", lines=30))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    return run


@pytest.fixture
def two_steps(ready):
    """A running run whose steps a and b wrote interleaved lines: seq 1 … 20, odd seqs from a."""
    run = trigger(ready, "greeting")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    now = timezone.now()
    LogLine.objects.bulk_create(
        LogLine(run=run, seq=seq, step="a" if seq % 2 else "b", stream="stdout", level="INFO", text=f"{seq}", at=now)
        for seq in range(1, 21)
    )
    run.refresh_from_db()
    return run


def test_all_lines_of_a_finished_run_in_order(api, chatty_run, viewer):
    page = logs(api(viewer, auth="token"), chatty_run)
    assert texts(page) == [f"line {i}" for i in range(30)]
    assert [line["seq"] for line in page["lines"]] == list(range(1, 31))
    first = page["lines"][0]
    assert (first["step"], first["stream"], first["level"]) == ("chatter", "stdout", "INFO")
    assert first["at"]
    assert (page["next_after"], page["run_status"], page["complete"]) == (30, "completed", True)


def test_after_returns_only_later_lines(api, chatty_run, viewer):
    page = logs(api(viewer), chatty_run, after=10)
    assert texts(page) == [f"line {i}" for i in range(10, 30)]
    assert page["next_after"] == 30 and page["complete"] is True


def test_limit_pages_through_the_lines_and_complete_waits_for_the_last_page(api, chatty_run, viewer):
    client = api(viewer)
    page = logs(client, chatty_run, limit=7)
    assert texts(page) == [f"line {i}" for i in range(7)]
    assert (page["next_after"], page["complete"]) == (7, False), "more lines follow: not complete yet"
    collected, after = texts(page), page["next_after"]
    while not page["complete"]:
        page = logs(client, chatty_run, after=after, limit=7)
        collected += texts(page)
        after = page["next_after"]
    assert collected == [f"line {i}" for i in range(30)]
    assert after == 30


def test_a_last_page_that_is_exactly_full_is_complete(api, chatty_run, viewer):
    page = logs(api(viewer), chatty_run, after=20, limit=10)
    assert texts(page) == [f"line {i}" for i in range(20, 30)]
    assert page["complete"] is True


def test_after_the_last_line_the_page_is_empty_and_keeps_the_cursor(api, chatty_run, viewer):
    for after in (30, 1000):
        page = logs(api(viewer), chatty_run, after=after)
        assert page == {"lines": [], "next_after": after, "run_status": "completed", "complete": True}


@pytest.mark.django_db
def test_step_selects_one_steps_lines_and_next_after_follows_them(api, two_steps, viewer):
    client = api(viewer)
    page = logs(client, two_steps, step="a", limit=3)
    assert [(line["seq"], line["step"]) for line in page["lines"]] == [(1, "a"), (3, "a"), (5, "a")]
    assert page["next_after"] == 5
    page = logs(client, two_steps, step="a", after=page["next_after"])
    assert [line["seq"] for line in page["lines"]] == [7, 9, 11, 13, 15, 17, 19]
    assert [line["seq"] for line in logs(client, two_steps, step="b", after=14)["lines"]] == [16, 18, 20]
    assert logs(client, two_steps, step="nope")["lines"] == []


@pytest.mark.django_db
def test_complete_is_false_while_the_run_is_going_and_true_once_it_ended(api, two_steps, viewer):
    client = api(viewer)
    page = logs(client, two_steps)
    assert len(page["lines"]) == 20
    assert (page["run_status"], page["complete"]) == ("running", False), "a running run may still write"
    Run.objects.filter(pk=two_steps.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    page = logs(client, two_steps, after=page["next_after"])
    assert page == {"lines": [], "next_after": 20, "run_status": "completed", "complete": True}


@pytest.mark.django_db
def test_a_queued_run_has_no_lines_and_is_not_complete(api, ready, viewer):
    run = trigger(ready)
    assert logs(api(viewer), run) == {"lines": [], "next_after": 0, "run_status": "queued", "complete": False}


def test_the_text_operation_gives_plain_lines_with_the_cursor_in_headers(api, chatty_run, viewer):
    response = api(viewer).get(f"/api/runs/{chatty_run.pk}/logs/text/", {"after": 25, "limit": 3})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "line 25\nline 26\nline 27\n"
    assert (response["X-Next-After"], response["X-Log-Complete"]) == ("28", "false")
    rest = api(viewer).get(f"/api/runs/{chatty_run.pk}/logs/text/", {"after": response["X-Next-After"]})
    assert rest.content.decode() == "line 28\nline 29\n"
    assert (rest["X-Next-After"], rest["X-Log-Complete"]) == ("30", "true")


def test_an_empty_text_page_keeps_its_content_type_and_cursor(api, chatty_run, viewer):
    response = api(viewer).get(f"/api/runs/{chatty_run.pk}/logs/text/", {"after": 30})
    assert (response.status_code, response.content) == (200, b"")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert (response["X-Next-After"], response["X-Log-Complete"]) == ("30", "true")


def test_format_text_on_the_json_address_still_gives_plain_lines(api, chatty_run, viewer):
    response = api(viewer).get(f"/api/runs/{chatty_run.pk}/logs/", {"format": "text", "after": 25})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "line 25\nline 26\nline 27\nline 28\nline 29\n"


def test_accept_text_plain_gives_plain_lines_too(api, chatty_run, viewer):
    response = api(viewer).get(f"/api/runs/{chatty_run.pk}/logs/", {"limit": 2}, HTTP_ACCEPT="text/plain")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "line 0\nline 1\n"


def test_a_failed_runs_logs_end_with_its_traceback(api, transactional_db, ready, viewer):
    run = execute(trigger(ready, "exploding"))
    page = logs(api(viewer), run)
    assert texts(page)[0] == "about to fail"
    assert texts(page)[-1] == "ValueError: bad input"
    assert (page["run_status"], page["complete"]) == ("failed", True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"after": "x"}, "after", "must be a whole number, not 'x'"),
        ({"after": "1.5"}, "after", "must be a whole number, not '1.5'"),
        ({"after": "-1"}, "after", "must be at least 0"),
        ({"limit": "lots"}, "limit", "must be a whole number, not 'lots'"),
        ({"limit": "0"}, "limit", "must be between 1 and 10000"),
        ({"limit": "10001"}, "limit", "must be between 1 and 10000"),
    ],
)
def test_bad_after_or_limit_is_a_400_naming_it(api, ready, viewer, params, field, reason):
    run = trigger(ready)
    response = api(viewer).get(f"/api/runs/{run.pk}/logs/", params)
    assert response.status_code == 400
    err = error(response)
    assert err["fields"] == {field: reason}
    text = api(viewer).get(f"/api/runs/{run.pk}/logs/text/", params)
    assert text.status_code == 400
    assert error(text)["fields"] == {field: reason}, "the text operation's errors are the API's JSON"


@pytest.mark.django_db
def test_the_largest_limit_is_allowed(api, two_steps, viewer):
    assert len(logs(api(viewer), two_steps, limit=10000)["lines"]) == 20


@pytest.mark.django_db(transaction=True)
def test_tailing_a_live_run_loses_and_repeats_no_line(api, ready, viewer):
    lines = 20000
    run = trigger(ready, "chatty", lines=lines)
    client = api(viewer)  # a session: reading the logs writes nothing the run's writes could hold up
    assert logs(client, run)["complete"] is False  # the first request's one-time costs are paid now
    background = Background(run)
    collected: list[dict] = []
    pages_while_running = 0
    after = 0
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, f"the tail did not complete; {len(collected)} lines so far"
        page = logs(client, run, after=after, limit=700)
        assert len(page["lines"]) <= 700
        if page["run_status"] not in FINAL_RUN_STATES:
            assert page["complete"] is False
            pages_while_running += bool(page["lines"])
        collected += page["lines"]
        assert page["next_after"] >= after
        after = page["next_after"]
        if page["complete"]:
            break
    finished = background.wait_finished()
    assert finished.status == RunStatus.COMPLETED, finished.failure_message
    got = [line["text"] for line in collected]
    seqs = [line["seq"] for line in collected]
    assert len(got) == lines, f"{len(got)} lines, {len(got) - len(set(seqs))} repeated"
    assert got == [f"line {i}" for i in range(lines)]
    assert seqs == sorted(set(seqs)), "each line once, in order"
    assert pages_while_running >= 1, "no page of lines was fetched while the run was running"
