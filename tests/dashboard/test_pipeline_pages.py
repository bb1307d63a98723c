"""The pipelines and stacks pages, the trigger form's errors and stacks, and names made of markup shown as text."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from rest_framework.test import APIClient

from accounts.models import Membership, Role
from flowsite.engine import Pipeline, step
from runs import registry
from runs.models import PipelineDef, Run, RunStatus
from tests.factories import give_stack_permissions, make_stack, make_user
from tests.runs.helpers import execute

from .helpers import open_run, screenshot, sign_in, trigger

MARKUP = "<img src=x onerror=alert(1)>"


@step
def harmless(note: str = "<b>bold</b>") -> str:
    print(f"note: {note}")
    print("<script>alert('log')</script>")
    return note


# Not in tests/pipelines.py: the API tests expect that module's pipelines to be exactly the ones they name
# (test_the_list_has_every_registered_pipeline_by_name, test_bad_trigger_requests_are_a_400_naming_the_field),
# so this one joins the registry only for the test that needs it.
markup = Pipeline(MARKUP, [harmless], description="<i>described</i> <img src=y onerror=alert(2)>")


def test_the_pipelines_page_and_a_pipeline_with_its_trigger_form(page, ready, owner):
    for name in ("Ada", "Grace"):
        assert execute(trigger(ready, "greeting", user=owner, name=name)).status == RunStatus.COMPLETED
    sign_in(page, "olivia")
    page.click("header.topbar nav a[data-nav=pipelines]")
    expect(page).to_have_url(re.compile(r"/pipelines/$"))
    card = page.locator("section.card.pipeline[data-pipeline=greeting]")
    expect(card.locator("h2")).to_have_text("greeting")
    expect(card).to_contain_text("One step that says hello.")
    expect(card.locator("svg.dag .node[data-step=hello]")).to_be_visible()
    expect(card.locator(".recent .badge[data-status=completed]")).to_have_count(2)
    expect(card.locator(".trend figcaption")).to_contain_text("duration of the last 2 completed runs")
    arithmetic = page.locator("section.card.pipeline[data-pipeline=arithmetic]")
    expect(arithmetic.locator("svg.dag .node")).to_have_count(2)
    expect(arithmetic.locator(".recent")).to_have_text("No runs yet.")
    screenshot(page, "pipelines")

    # A parameter of the wrong type is refused on its field, and nothing starts.
    arithmetic.locator("h2 a").click()
    expect(page).to_have_url(re.compile(r"/pipelines/arithmetic/$"))
    expect(page.locator("#app h1")).to_have_text("arithmetic")
    expect(page.locator("svg.dag .node")).to_have_count(2)
    form = page.locator("form.trigger")
    expect(form.locator("[name=param-n]")).to_have_value("3")
    expect(form.locator("select[name=stack]")).to_have_value("local")
    form.locator("[name=param-n]").fill("2.5")
    form.locator("button[type=submit]").click()
    error = form.locator("label.param", has=page.locator("[name=param-n]")).locator(".field-error")
    expect(error).to_have_text("must be a whole number")
    expect(page).to_have_url(re.compile(r"/pipelines/arithmetic/$"))
    assert not Run.objects.filter(pipeline__name="arithmetic").exists()


def test_the_stacks_page(new_page, ready):
    as_owner = new_page()
    sign_in(as_owner, "olivia")
    as_owner.click("header.topbar nav a[data-nav=stacks]")
    row = as_owner.locator("table.stacks tr[data-stack=local]")
    expect(row).to_contain_text("default")
    expect(row).to_contain_text("local")
    expect(row.get_by_role("link", name="edit in admin")).to_have_count(0)

    staff = give_stack_permissions(make_user("stella", is_staff=True), "view", "change")
    Membership.objects.create(project=ready, user=staff, role=Role.VIEWER)
    as_staff = new_page()
    sign_in(as_staff, "stella")
    as_staff.goto("/stacks/")
    row = as_staff.locator("table.stacks tr[data-stack=local]")
    edit = row.get_by_role("link", name="edit in admin")
    expect(edit).to_have_attribute("href", re.compile(r"^/admin/stacks/stack/\d+/change/$"))
    expect(row.locator(".badge")).to_have_text("ready")
    screenshot(as_staff, "stacks")


def test_the_trigger_form_offers_only_the_projects_stacks_and_shows_a_withdrawn_grant(page, ready, stack):
    prod = make_stack("prod", is_default=False, open_to_all_projects=False)
    gpu = make_stack("gpu", is_default=False, open_to_all_projects=False)
    gpu.projects.add(ready)
    sign_in(page, "olivia")
    page.goto("/pipelines/greeting/")
    form = page.locator("form.trigger")
    options = form.locator("select[name=stack] option")
    expect(options).to_have_text(["gpu (local)", "local (local)"])
    expect(form.locator("select[name=stack]")).to_have_value("local")

    # Staff withdraw the grant while the form is open: the stack's field says why nothing started.
    form.locator("select[name=stack]").select_option("gpu")
    gpu.projects.remove(ready)
    form.locator("button[type=submit]").click()
    error = form.locator("label.param", has=page.locator("select[name=stack]")).locator(".field-error")
    expect(error).to_have_text("stack 'gpu' is not granted to project 'ml'; staff grant stacks to projects")
    assert not Run.objects.filter(stack__in=[prod, gpu]).exists()

    # A project with no stack granted says so instead of offering a form that cannot work.
    stack.open_to_all_projects = False
    stack.save()
    page.goto("/pipelines/greeting/")
    expect(page.locator("#app")).to_contain_text("No stack is granted to Ml; ask a staff member to grant one.")
    expect(page.locator("form.trigger")).to_have_count(0)


def test_the_stacks_page_shows_grants_and_only_stack_managers_get_the_admin_link(new_page, ready, stack):
    make_stack("prod", is_default=False, open_to_all_projects=False).projects.add(ready)
    make_stack("hidden", is_default=False, open_to_all_projects=False)
    staff = make_user("sam", is_staff=True)
    Membership.objects.create(project=ready, user=staff, role=Role.VIEWER)
    as_staff = new_page()
    sign_in(as_staff, "sam")
    as_staff.goto("/stacks/")
    expect(as_staff.locator("table.stacks tbody tr")).to_have_count(2)
    expect(as_staff.locator("tr[data-stack=local] td.grants")).to_have_text("every project")
    expect(as_staff.locator("tr[data-stack=prod] td.grants")).to_have_text("ml")
    expect(as_staff.get_by_role("link", name="edit in admin")).to_have_count(0)


def register_this_module(settings, monkeypatch) -> None:
    """This module's pipelines join FLOWSITE_PIPELINES for one test, as a team's module would: the run's
    process imports them afresh from there."""
    settings.FLOWSITE_PIPELINES = [*settings.FLOWSITE_PIPELINES, __name__]
    monkeypatch.setattr(registry, "_loaded", None)
    registry.sync_pipelines()


def test_a_pipeline_named_with_markup_is_shown_as_text(page, ready, owner, monkeypatch, settings):
    register_this_module(settings, monkeypatch)
    run = execute(trigger(ready, MARKUP, user=owner, note="<img src=z onerror=alert(3)>"))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    injected = page.locator("#app img, #app script, #app b, #app i, img[src=x], img[src=y], img[src=z]")

    sign_in(page, "olivia")
    row = page.locator(f"table.runs tr[data-run='{run.pk}']")
    expect(row.get_by_role("link", name=MARKUP, exact=True)).to_be_visible()
    expect(page.locator("#app")).to_contain_text(MARKUP)
    expect(injected).to_have_count(0)

    open_run(page, run)
    expect(page.locator(".run-header")).to_contain_text(MARKUP)
    expect(page.locator(".run-header .params")).to_have_text('{"note":"<img src=z onerror=alert(3)>"}')
    expect(page.locator(".log-viewport")).to_contain_text("note: <img src=z onerror=alert(3)>")
    expect(page.locator(".log-viewport")).to_contain_text("<script>alert('log')</script>")
    assert MARKUP in page.title()
    expect(injected).to_have_count(0)

    page.goto("/pipelines/")
    card = page.locator("section.card.pipeline").filter(has=page.get_by_role("link", name=MARKUP, exact=True))
    expect(card).to_contain_text("<i>described</i> <img src=y onerror=alert(2)>")
    expect(card.locator(".recent .badge[data-status=completed]")).to_have_count(1)
    expect(injected).to_have_count(0)

    card.get_by_role("link", name=MARKUP, exact=True).click()
    expect(page.locator("#app h1")).to_have_text(MARKUP)
    expect(page.locator("form.trigger [name=param-note]")).to_have_value("<b>bold</b>")
    expect(injected).to_have_count(0)

    # Any handler an injected element had would have run by now: each page above finished loading.
    assert dialogs == [], f"the page opened dialogs: {dialogs}"


@step
def need(rows: int, name: str, ratio: float = 0.5, batch: int = 8) -> int:
    return rows


# Joins the registry only for the test that registers this module, like `markup` above.
needy = Pipeline("needs-input", [need])


def test_the_trigger_form_refuses_an_empty_required_parameter_and_a_cleared_number(
    page, ready, owner, monkeypatch, settings
):
    register_this_module(settings, monkeypatch)
    sign_in(page, "olivia")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.goto("/pipelines/needs-input/")
    form = page.locator("form.trigger")

    def field(name: str) -> tuple:
        label = form.locator("label.param", has=page.locator(f"[name=param-{name}]"))
        return label.locator(f"[name=param-{name}]"), label.locator(".field-error")

    (rows, rows_error), (name, name_error) = field("rows"), field("name")
    (ratio, ratio_error), (batch, batch_error) = field("ratio"), field("batch")
    expect(rows).to_have_value("")
    expect(ratio).to_have_value("0.5")
    expect(batch).to_have_value("8")
    ratio.fill("")
    batch.fill("")
    form.locator("button[type=submit]").click()
    # Each field says what is wrong with it, and nothing is sent.
    expect(rows_error).to_have_text("this parameter is required")
    expect(name_error).to_have_text("this parameter is required")
    expect(ratio_error).to_have_text("must be a number")
    expect(batch_error).to_have_text("must be a whole number")
    assert posts == [] and not Run.objects.exists()

    # The API refuses the same request, field by field.
    client = APIClient()
    client.force_login(owner)
    refused = client.post(
        "/api/runs/", {"project": "ml", "pipeline": "needs-input", "params": {"ratio": "", "batch": ""}}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "params.rows": "this parameter is required",
        "params.name": "this parameter is required",
        "params.ratio": "must be of type number, not str ''",
        "params.batch": "must be of type integer, not str ''",
    }

    rows.fill("12")
    name.fill("")  # a required string left empty is refused too: "" is no value given
    ratio.fill("0.25")
    batch.fill("4")
    form.locator("button[type=submit]").click()
    expect(name_error).to_have_text("this parameter is required")
    expect(rows_error).to_have_text("")
    assert posts == []
    name.fill("Ada")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    run = Run.objects.get()
    assert run.params == {"rows": 12, "name": "Ada", "ratio": 0.25, "batch": 4}


def test_a_version_no_worker_has_shows_why_and_cannot_be_started(page, ready, owner):
    current = PipelineDef.objects.filter(name="greeting").latest("created_at")
    PipelineDef.objects.create(name="greeting", module=current.module, code_version="feedface", dag=current.dag)
    sign_in(page, "olivia")
    page.goto("/pipelines/greeting/")
    form = page.locator("form.trigger")
    expect(form.locator(".field-error")).to_have_text(
        f"This version cannot run on local: no worker has version feedface of pipeline 'greeting' "
        f"(workers have {current.code_version}): ship the code to the workers and run sync_pipelines there"
    )
    expect(form.locator("button[type=submit]")).to_be_disabled()


def test_the_trigger_form_shows_the_size_limit_of_parameters(page, ready, owner):
    sign_in(page, "olivia")
    page.goto("/pipelines/greeting/")
    form = page.locator("form.trigger")
    form.locator("[name=param-name]").fill("x" * 70_000)
    form.locator("button[type=submit]").click()
    refusal = form.locator(".message.error")
    expect(refusal).to_contain_text("params: take 70023 bytes of JSON with their defaults; at most 65536 are allowed")
    expect(page).to_have_url(re.compile(r"/pipelines/greeting/$"))
    assert not Run.objects.exists()
