"""The admin as an operator uses it: the run list, triggering, run pages and actions, and stacks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from runs.models import Run, RunEvent, RunStatus, StepRun, StepStatus
from stacks.models import Stack
from tests.factories import make_project

from .helpers import execute

RUNS = "/admin/runs/run/"
ADD_RUN = "/admin/runs/run/add/"
STACKS = "/admin/stacks/stack/"
ADD_STACK = "/admin/stacks/stack/add/"


@pytest.fixture
def superuser(db: Any) -> Any:
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def site(client: Any, superuser: Any) -> Any:
    """The test client, signed in as a superuser."""
    client.force_login(superuser)
    return client


def trigger(project, pipeline, **params):
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params)


def change_url(run: Run) -> str:
    return f"{RUNS}{run.pk}/change/"


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def act(site, action: str, *runs: Run):
    return site.post(RUNS, {"action": action, "_selected_action": [r.pk for r in runs]}, follow=True)


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200
    return {field: list(errors) for field, errors in response.context["adminform"].form.errors.items()}


# The run list


def test_the_run_list_shows_runs_and_every_filter_is_accepted(site, ready, stack):
    other = make_project("other")
    arithmetic = trigger(ready, "arithmetic", n=2)
    spare = Stack.objects.create(name="spare", kind="local", open_to_all_projects=True)
    greeting = Run.objects.trigger(project=other, pipeline="greeting", stack=spare)
    Run.objects.filter(pk=greeting.pk).update(status=RunStatus.FAILED)

    response = site.get(RUNS)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2

    filters = {
        "status__exact=failed": {greeting.pk},
        "status__exact=queued": {arithmetic.pk},
        f"project__id__exact={other.pk}": {greeting.pk},
        "pipeline__name=arithmetic": {arithmetic.pk},
        f"stack__id__exact={stack.pk}": {arithmetic.pk},
        f"stack__id__exact={spare.pk}": {greeting.pk},
    }
    for query, expected in filters.items():
        response = site.get(f"{RUNS}?{query}")
        assert response.status_code == 200, query  # an unknown filter redirects to ?e=1 instead
        assert {run.pk for run in response.context["cl"].result_list} == expected, query


# Triggering a run


def test_the_add_run_page_offers_the_recorded_pipelines(site, ready):
    response = site.get(ADD_RUN)
    assert response.status_code == 200
    for name in ("arithmetic", "greeting", "exploding"):
        assert f'<option value="{name}">{name}</option>' in response.content.decode()


def test_adding_a_run_queues_it_with_pending_steps(site, ready, stack, superuser):
    response = site.post(
        ADD_RUN,
        {"project": ready.pk, "pipeline_name": "arithmetic", "stack": stack.pk, "params_json": '{"n": 4}'},
    )
    assert response.status_code == 302
    run = Run.objects.get()
    assert response["Location"] == RUNS
    assert (run.status, run.pipeline.name, run.project, run.stack) == (RunStatus.QUEUED, "arithmetic", ready, stack)
    assert run.params == {"n": 4, "ledger": "", "gate": ""}
    assert run.triggered_by == superuser
    assert [(s.name, s.status) for s in run.steps.all()] == [
        ("produce", StepStatus.PENDING),
        ("add_up", StepStatus.PENDING),
    ]


def test_adding_a_run_without_a_stack_uses_the_default(site, ready, stack):
    response = site.post(ADD_RUN, {"project": ready.pk, "pipeline_name": "greeting", "params_json": "{}"})
    assert response.status_code == 302
    assert Run.objects.get().stack == stack


def test_a_parameter_of_the_wrong_type_is_refused_naming_it(site, ready, stack):
    response = site.post(
        ADD_RUN,
        {"project": ready.pk, "pipeline_name": "arithmetic", "stack": stack.pk, "params_json": '{"n": "four"}'},
    )
    errors = form_errors(response)
    assert errors["params_json"] == ["n: must be of type integer, not str 'four'"]
    assert "n: must be of type integer" in response.content.decode()
    assert not Run.objects.exists()


def test_an_unknown_parameter_is_refused_naming_it(site, ready, stack):
    response = site.post(
        ADD_RUN,
        {"project": ready.pk, "pipeline_name": "arithmetic", "stack": stack.pk, "params_json": '{"m": 1}'},
    )
    errors = form_errors(response)
    assert errors["params_json"] == ["m: this pipeline takes no parameter 'm' (parameters: gate, ledger, n)"]
    assert not Run.objects.exists()


# The run page


@pytest.mark.django_db(transaction=True)
def test_the_run_page_shows_steps_events_and_logs_and_cannot_be_edited(site, ready):
    run = execute(trigger(ready, "greeting", name="Ada"))
    assert run.status == RunStatus.COMPLETED, run.failure_message

    response = site.get(change_url(run))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    # The step inline, read-only.
    inlines = {inline.formset.model: inline for inline in response.context["inline_admin_formsets"]}
    steps = inlines[StepRun]
    assert [form.original.name for form in steps] == ["hello"]
    assert ">hello<" in page
    # The run's events, with their reasons.
    run_events = [form.original for form in inlines[RunEvent] if form.original.step_id is None]
    assert [(event.old_status, event.new_status) for event in run_events] == [
        ("", "queued"),
        ("queued", "running"),
        ("running", "completed"),
    ]
    assert "triggered" in page
    # The recent log lines, in order, each with its sequence number and step.
    assert re.search(r"<pre[^>]*>\d+ \[hello\] hello Ada\n\d+ \[hello\] second line</pre>", page)

    before = Run.objects.values().get(pk=run.pk)
    events_before = RunEvent.objects.filter(run=run).count()
    response = site.post(change_url(run), {"status": "queued", "params": '{"name": "Eve"}', "failure_message": "x"})
    assert response.status_code == 403
    assert Run.objects.values().get(pk=run.pk) == before
    assert RunEvent.objects.filter(run=run).count() == events_before


@pytest.mark.django_db(transaction=True)
def test_log_text_is_escaped_on_the_run_page(site, ready):
    run = execute(trigger(ready, "greeting", name="<script>alert(1)</script>"))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    page = site.get(change_url(run)).content.decode()
    assert "hello &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page


def test_a_run_without_log_lines_says_so(site, ready):
    run = trigger(ready, "greeting")
    assert "No log lines yet." in site.get(change_url(run)).content.decode()


# Actions


def test_cancelling_a_queued_run(site, ready, superuser):
    run = trigger(ready, "arithmetic")
    response = act(site, "cancel_runs", run)
    assert response.status_code == 200
    assert messages_of(response) == [("success", f"Run {run.pk}: cancelled")]
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.cancelled_by == superuser
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.CANCELLED}


def test_cancelling_a_finished_run_warns_and_changes_nothing(site, ready):
    run = trigger(ready, "arithmetic")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED)
    before = Run.objects.values().get(pk=run.pk)
    events_before = RunEvent.objects.filter(run=run).count()
    response = act(site, "cancel_runs", run)
    assert messages_of(response) == [("warning", f"run {run.pk} is already completed; there is nothing to cancel")]
    assert Run.objects.values().get(pk=run.pk) == before
    assert RunEvent.objects.filter(run=run).count() == events_before


@pytest.mark.django_db(transaction=True)
def test_retrying_a_failed_run_creates_a_new_run(site, ready, superuser):
    failed = execute(trigger(ready, "exploding"))
    assert failed.status == RunStatus.FAILED
    response = act(site, "retry_runs", failed)
    retry = Run.objects.get(retry_of=failed)
    assert messages_of(response) == [("success", f"Run {failed.pk}: retried as run {retry.pk}")]
    assert (retry.pipeline.name, retry.params, retry.stack) == ("exploding", failed.params, failed.stack)
    assert retry.triggered_by == superuser
    assert retry.status == RunStatus.QUEUED  # no worker runs in this test
    assert Run.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_retrying_a_completed_run_warns_and_creates_nothing(site, ready):
    done = execute(trigger(ready, "greeting"))
    assert done.status == RunStatus.COMPLETED, done.failure_message
    response = act(site, "retry_runs", done)
    assert messages_of(response) == [("warning", f"run {done.pk} completed; there is nothing to retry")]
    assert Run.objects.count() == 1


# Stacks


def stack_form(**overrides: Any) -> dict[str, Any]:
    data = {"name": "gpu", "kind": "local", "description": "", "config": "{}", "new_secrets": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def secrets_shown(page: str) -> str:
    """The "Secrets set" read-only value on a stack's change page."""
    match = re.search(r'field-secret_list.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert match, "the page has no secrets row"
    return match.group(1)


def stack_change_url(stack: Stack) -> str:
    return f"{STACKS}{stack.pk}/change/"


def test_adding_a_stack_with_a_valid_config(site):
    response = site.post(ADD_STACK, stack_form(config='{"env": {"A": "1"}}'))
    assert response.status_code == 302, form_errors(response)
    stack = Stack.objects.get(name="gpu")
    assert (stack.kind, stack.config, stack.secrets, stack.is_default) == ("local", {"env": {"A": "1"}}, {}, False)


def test_an_unknown_config_key_is_refused_naming_it(site):
    response = site.post(ADD_STACK, stack_form(config='{"bogus": 1}'))
    assert form_errors(response) == {"config": ["bogus: unknown setting for this kind of stack"]}
    assert not Stack.objects.exists()


def test_a_config_value_of_the_wrong_type_is_refused_naming_it(site):
    response = site.post(ADD_STACK, stack_form(config='{"env": "x"}'))
    errors = form_errors(response)
    assert list(errors) == ["config"]
    assert len(errors["config"]) == 1 and errors["config"][0].startswith("env: ")
    assert "dictionary" in errors["config"][0]
    assert not Stack.objects.exists()


def test_secrets_are_set_kept_and_removed_but_never_shown(site):
    response = site.post(ADD_STACK, stack_form(new_secrets='{"TOKEN": "s3cret-value"}'))
    assert response.status_code == 302, form_errors(response)
    stack = Stack.objects.get(name="gpu")
    assert stack.secrets == {"TOKEN": "s3cret-value"}

    page = site.get(stack_change_url(stack)).content.decode()
    assert "s3cret-value" not in page
    assert secrets_shown(page) == "TOKEN"
    listing = site.get(STACKS).content.decode()
    assert "s3cret-value" not in listing
    assert '<td class="field-secret_list">TOKEN</td>' in listing

    # An empty field keeps the secrets while other fields change.
    response = site.post(stack_change_url(stack), stack_form(description="GPUs", new_secrets=""))
    assert response.status_code == 302, form_errors(response)
    stack.refresh_from_db()
    assert (stack.description, stack.secrets) == ("GPUs", {"TOKEN": "s3cret-value"})
    assert "s3cret-value" not in site.get(stack_change_url(stack)).content.decode()

    # Setting a second secret adds it; null removes one.
    response = site.post(stack_change_url(stack), stack_form(new_secrets='{"OTHER": "v2-value"}'))
    assert response.status_code == 302, form_errors(response)
    stack.refresh_from_db()
    assert stack.secrets == {"TOKEN": "s3cret-value", "OTHER": "v2-value"}
    response = site.post(stack_change_url(stack), stack_form(new_secrets='{"TOKEN": null}'))
    assert response.status_code == 302, form_errors(response)
    stack.refresh_from_db()
    assert stack.secrets == {"OTHER": "v2-value"}
    assert secrets_shown(site.get(stack_change_url(stack)).content.decode()) == "OTHER"
    response = site.post(stack_change_url(stack), stack_form(new_secrets='{"OTHER": null}'))
    assert response.status_code == 302, form_errors(response)
    assert secrets_shown(site.get(stack_change_url(stack)).content.decode()) == "none"


def test_secrets_that_are_not_json_are_refused_on_their_field(site):
    stack = Stack.objects.create(name="gpu", kind="local", secrets={"TOKEN": "s3cret-value"})
    response = site.post(stack_change_url(stack), stack_form(new_secrets='{"TOKEN": }'))
    assert form_errors(response) == {
        "new_secrets": ["Not JSON that can be stored: Expecting value: line 1 column 11 (char 10)"]
    }
    stack.refresh_from_db()
    assert stack.secrets == {"TOKEN": "s3cret-value"}


def test_a_secret_too_short_to_be_masked_is_refused_on_its_field(site):
    stack = Stack.objects.create(name="gpu", kind="local", secrets={"TOKEN": "s3cret-value"})
    response = site.post(stack_change_url(stack), stack_form(new_secrets='{"PIN": "123"}'))
    assert form_errors(response) == {
        "new_secrets": ["PIN: too short to be masked in what runs store (at least 4 characters)"]
    }
    stack.refresh_from_db()
    assert stack.secrets == {"TOKEN": "s3cret-value"}


def test_secrets_that_are_not_strings_are_refused_on_their_field(site):
    response = site.post(ADD_STACK, stack_form(new_secrets='{"TOKEN": 5}'))
    assert form_errors(response) == {
        "new_secrets": ["must be a JSON object of names to string values (or null to remove)"]
    }
    assert not Stack.objects.exists()


def test_marking_a_second_stack_default_undefaults_the_first(site):
    first = Stack.objects.create(name="local", kind="local", is_default=True)
    response = site.post(ADD_STACK, stack_form(is_default="on"))
    assert response.status_code == 302, form_errors(response)
    first.refresh_from_db()
    assert not first.is_default
    assert Stack.default() == Stack.objects.get(name="gpu")
    assert list(Stack.objects.filter(is_default=True).values_list("name", flat=True)) == ["gpu"]


def test_secrets_typed_into_a_refused_stack_form_are_not_shown_back(client, db):
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root", "root@localhost", "pw")
    client.force_login(admin_user)
    response = client.post(
        "/admin/stacks/stack/add/",
        {"name": "gpu", "kind": "local", "config": '{"bogus": 1}', "new_secrets": '{"TOKEN": "typed-secret-value"}'},
    )
    assert response.status_code == 200
    assert "bogus: unknown setting for this kind of stack" in response.content.decode()
    assert "typed-secret-value" not in response.content.decode()
