"""The API as an integrator meets it: a Python client generated from the live schema by openapi-python-client,
driven against a live server and a real worker through every call an automation makes, with no HTTP of our own.

What breaks here is what breaks a generated client: an answer that does not parse as the type its operation
declares (text declared as JSON, an error without its shape), a status the schema does not list (the client
returns None for it), or a name the generator had to mangle.
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from accounts.models import ApiToken, Project

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "flowsite_api_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def generated(live_server: Any, ready: Project, owner: Any, tmp_path: Path) -> Iterator[ModuleType]:
    """The package openapi-python-client makes of /api/schema/ as the live server serves it."""
    import httpx  # the schema is the generator's input, fetched once; every API call below goes through the client

    owner_key = ApiToken.issue(owner, "schema")[1]
    schema = httpx.get(
        f"{live_server.url}/api/schema/", params={"format": "json"}, headers={"Authorization": f"Token {owner_key}"}
    )
    assert schema.status_code == 200, schema.text
    (tmp_path / "schema.json").write_bytes(schema.content)
    # No post hooks: formatting the code (ruff) is for people reading it, and costs seconds.
    (tmp_path / "config.yml").write_text("post_hooks: []\n")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--config",
            str(tmp_path / "config.yml"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, "the schema generates without warnings:\n" + result.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def api(generated: ModuleType, name: str) -> ModuleType:
    """One operation's module of the generated client, found by its operation id."""
    for tag in ("runs", "artifacts", "pipelines", "projects", "me"):
        try:
            return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
        except ModuleNotFoundError:
            continue
    raise AssertionError(f"no operation {name} in the generated client")


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_a_generated_client_drives_the_api(generated: ModuleType, cluster: Any, live_server: Any, owner: Any):
    models = importlib.import_module(f"{PACKAGE}.models")
    key = ApiToken.issue(owner, "contract")[1]
    # A status the schema does not list raises, rather than parsing as None.
    client = generated.AuthenticatedClient(
        base_url=live_server.url, token=key, prefix="Token", raise_on_unexpected_status=True
    )
    call = {name: api(generated, name) for name in (
        "trigger_run", "get_run", "list_runs", "tail_run_logs", "tail_run_logs_text", "list_run_artifacts",
        "download_artifact", "cancel_run", "retry_run", "get_pipeline", "get_me", "list_run_events",
    )}  # fmt: skip

    # Who am I, and what does the pipeline take: typed, no casts.
    me = call["get_me"].sync(client=client)
    assert [(p.slug, p.role) for p in me.projects] == [("ml", models.RoleEnum.OWNER)]
    pipeline = call["get_pipeline"].sync(client=client, name="greeting")
    specs = {spec.name: spec for spec in pipeline.parameters}
    assert (specs["name"].json_type, specs["name"].default, specs["name"].required) == (
        models.JsonTypeEnum.STRING,
        "world",
        False,
    )
    assert [node.name for node in pipeline.dag.nodes] == ["hello"] and pipeline.dag.groups == []

    # Trigger with an idempotency key; the replay is the same run, marked; another body with the key is a 422.
    def trigger(name: str, key: str | None = None) -> Any:
        return trigger_with("greeting", {"name": name}, key)

    def trigger_with(pipeline: str, params: dict[str, Any], key: str | None = None) -> Any:
        body = models.TriggerRequest(
            project="ml", pipeline=pipeline, params=models.TriggerRequestParams.from_dict(params)
        )
        return call["trigger_run"].sync_detailed(client=client, body=body, idempotency_key=key or generated.types.UNSET)

    first = trigger("Ada", key="contract-1")
    assert first.status_code == HTTPStatus.CREATED and isinstance(first.parsed, models.Run)
    assert "Idempotent-Replayed" not in first.headers
    replay = trigger("Ada", key="contract-1")
    assert (replay.parsed.id, replay.headers["Idempotent-Replayed"]) == (first.parsed.id, "true")
    reused = trigger("Grace", key="contract-1")
    assert reused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and isinstance(reused.parsed, models.Error)
    assert reused.parsed.error.fields["Idempotency-Key"] == f"already used for run {first.parsed.id}"
    run_id = first.parsed.id

    # Poll until it has ended.
    done = wait_for(
        lambda: (
            (run := call["get_run"].sync(client=client, id=run_id)).status == models.RunStatusEnum.COMPLETED and run
        ),
        "the run to complete",
    )
    assert done.params.to_dict() == {"name": "Ada", "ledger": ""}
    assert [step.status for step in done.steps] == [models.StepStatusEnum.COMPLETED]
    events = call["list_run_events"].sync(client=client, id=run_id)
    assert events[0].new_status == models.RunStatusEnum.QUEUED and events[0].actor == "olivia"

    # Tail the log as JSON, then as text with the cursor in a header.
    page = call["tail_run_logs"].sync(client=client, id=run_id, limit=1)
    assert [line.text for line in page.lines] == ["hello Ada"] and page.lines[0].stream == models.StreamEnum.STDOUT
    assert (page.next_after, page.complete, page.run_status) == (1, False, models.RunStatusEnum.COMPLETED)
    rest = call["tail_run_logs"].sync(client=client, id=run_id, after=page.next_after)
    assert [line.text for line in rest.lines] == ["second line"] and rest.complete
    text = call["tail_run_logs_text"].sync_detailed(client=client, id=run_id, limit=1)
    assert (text.parsed, text.headers["X-Next-After"], text.headers["X-Log-Complete"]) == ("hello Ada\n", "1", "false")
    text = call["tail_run_logs_text"].sync_detailed(client=client, id=run_id, after=int(text.headers["X-Next-After"]))
    assert (text.parsed, text.headers["X-Log-Complete"]) == ("second line\n", "true")

    # Download its artifact.
    [artifact] = call["list_run_artifacts"].sync(client=client, id=run_id)
    assert (artifact.name, artifact.value_type) == ("greeting", "builtins.str")
    assert pickle.loads(call["download_artifact"].sync(client=client, id=artifact.id).payload.read()) == "hello Ada"

    # Cancel a run while it runs; cancelling it again is a 409 that says where it stands; retry it.
    lingering = trigger_with("lingering", {"mode": "c", "seconds": 60}).parsed
    wait_for(lambda: call["get_run"].sync(client=client, id=lingering.id).status == models.RunStatusEnum.RUNNING,
             "the lingering run to start")  # fmt: skip
    cancelled = call["cancel_run"].sync_detailed(client=client, id=lingering.id)
    assert cancelled.status_code == HTTPStatus.ACCEPTED and cancelled.parsed.cancelled_by == "olivia"
    wait_for(lambda: call["get_run"].sync(client=client, id=lingering.id).status == models.RunStatusEnum.CANCELLED,
             "the cancel to land")  # fmt: skip
    again = call["cancel_run"].sync_detailed(client=client, id=lingering.id)
    assert again.status_code == HTTPStatus.CONFLICT and isinstance(again.parsed, models.RunConflict)
    assert again.parsed.error.run_status == models.RunStatusEnum.CANCELLED
    retried = call["retry_run"].sync_detailed(client=client, id=lingering.id)
    assert retried.status_code == HTTPStatus.CREATED and retried.parsed.retry_of == lingering.id
    call["cancel_run"].sync(client=client, id=retried.parsed.id)
    wait_for(lambda: call["get_run"].sync(client=client, id=retried.parsed.id).status == models.RunStatusEnum.CANCELLED,
             "the retry's cancel to land")  # fmt: skip
    nothing_to_retry = call["retry_run"].sync_detailed(client=client, id=run_id)
    assert (nothing_to_retry.status_code, nothing_to_retry.parsed.error.run_status) == (
        HTTPStatus.CONFLICT,
        models.RunStatusEnum.COMPLETED,
    )

    # List with filters, a page at a time, passing the cursor back.
    for name in ("Babbage", "Lovelace"):
        trigger(name)
    seen, cursor = [], generated.types.UNSET
    while True:
        listed = call["list_runs"].sync(
            client=client, project="ml", pipeline="greeting", page_size=2, cursor=cursor,
            ordering=models.ListRunsOrdering.CREATED_AT,
        )  # fmt: skip
        assert isinstance(listed, models.PaginatedRunList) and len(listed.results) <= 2
        seen += [run.id for run in listed.results]
        if listed.next_cursor is None:
            break
        cursor = listed.next_cursor
    assert len(seen) == 3 and seen[0] == run_id and seen == sorted(seen)
    cancelled_runs = (
        call["list_runs"].sync(client=client, pipeline="lingering", status=[models.RunStatusEnum.CANCELLED]).results
    )
    assert lingering.id in {run.id for run in cancelled_runs}
    assert {run.status for run in cancelled_runs} == {models.RunStatusEnum.CANCELLED}

    # Typed errors: a 400 naming the field, a 404.
    bad = call["list_runs"].sync_detailed(client=client, page_size=0)
    assert bad.status_code == HTTPStatus.BAD_REQUEST and isinstance(bad.parsed, models.Error)
    assert list(bad.parsed.error.fields.to_dict()) == ["page_size"]
    missing = call["get_run"].sync_detailed(client=client, id=run_id + 10_000)
    assert missing.status_code == HTTPStatus.NOT_FOUND and missing.parsed.error.code == "not_found"
