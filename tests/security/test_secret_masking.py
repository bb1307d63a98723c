"""A stack secret that user code spills is masked in everything the run stores, not only in its log."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

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
    # Everything the database holds, but the stack's own (write-only) secret store.
    dump = io.StringIO()
    call_command("dumpdata", exclude=["stacks.stack", "contenttypes", "auth.permission"], stdout=dump)
    assert dump.getvalue().count(SECRET) == 0
    assert dump.getvalue().count("****") >= 5
