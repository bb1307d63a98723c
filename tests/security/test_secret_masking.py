"""A stack secret that user code spills is masked in everything the run stores, not only in its log."""

from __future__ import annotations

import pytest
from django.db import connection

from runs.models import LogLine, Run, RunStatus
from stacks.models import Stack
from tests.runs.helpers import execute

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "tok-3f9a-very-secret"


def test_a_secret_raised_in_an_error_reaches_no_table(ready):
    Stack.objects.filter(is_default=True).update(secrets={"API_TOKEN": SECRET})
    run = execute(Run.objects.trigger(project=ready, pipeline="spilling"))
    assert run.status == RunStatus.FAILED
    assert "refused token ****" in run.failure_message
    assert LogLine.objects.filter(run=run, text="using ****").exists()
    # Every row of every table, as the database holds it (the stack's secrets are encrypted at rest).
    dump = database_dump()
    assert dump.count(SECRET.encode()) == 0
    assert dump.count(b"****") >= 5


def database_dump() -> bytes:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    chunks.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\n".join(chunks)
