"""Every time the API gives says its offset: ISO 8601, never a bare local time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from runs.models import RunStatus
from tests.runs.helpers import execute

from .helpers import trigger

pytestmark = pytest.mark.django_db

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def times(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, value) in a JSON document whose key names a time (…_at, at, fire times)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key == "at" or key.endswith("_at")):
                yield f"{path}.{key}", item
            elif key.endswith("fire_times"):
                yield from ((f"{path}.{key}[{i}]", t) for i, t in enumerate(item))
            else:
                yield from times(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from times(item, f"{path}[{index}]")


@pytest.mark.django_db(transaction=True)
def test_every_time_in_a_run_its_events_and_the_runs_list_has_an_offset(api, owner, ready):
    run = execute(trigger(ready, "exploding", user=owner))
    assert (run.status, run.failure_message) == (RunStatus.FAILED, "step 'explode' failed: ValueError: bad input")
    client = api(owner)
    documents = {path: client.get(path).json() for path in (
        f"/api/runs/{run.pk}/", f"/api/runs/{run.pk}/events/", "/api/runs/", "/api/pipelines/",
    )}  # fmt: skip
    found = [(f"{path}{where}", text) for path, document in documents.items() for where, text in times(document)]
    assert any(where.endswith(".finished_at") for where, _ in found), found  # the walk sees the run's times
    for where, text in found:
        assert ISO_WITH_OFFSET.match(text), f"{where} = {text!r} has no offset"
        assert datetime.fromisoformat(text).utcoffset() is not None
