"""The pipelines and stacks pages, the trigger form's errors, and names made of markup shown as text."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from flowsite.engine import Pipeline, step
from runs import registry
from runs.models import Membership, Role, Run, RunStatus
from tests.factories import make_user
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

    staff = make_user("stella", is_staff=True)
    Membership.objects.create(project=ready, user=staff, role=Role.VIEWER)
    as_staff = new_page()
    sign_in(as_staff, "stella")
    as_staff.goto("/stacks/")
    row = as_staff.locator("table.stacks tr[data-stack=local]")
    edit = row.get_by_role("link", name="edit in admin")
    expect(edit).to_have_attribute("href", re.compile(r"^/admin/stacks/stack/\d+/change/$"))
    expect(row.locator(".badge")).to_have_text("ready")
    screenshot(as_staff, "stacks")


def test_a_pipeline_named_with_markup_is_shown_as_text(page, ready, owner, monkeypatch):
    monkeypatch.setitem(registry.pipelines(), MARKUP, (markup, __name__))
    registry.sync_pipelines()
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
