"""Run again: from a run's page to the trigger form filled in with its parameters and stack, the differences
shown as the form is edited, and a fresh run that ignores the cache."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from runs.models import Run
from tests.factories import make_stack
from tests.runs.helpers import execute

from .helpers import open_run, sign_in, trigger


def test_run_again_prefills_the_form_shows_what_differs_and_starts_a_fresh_run(page, ready, owner):
    make_stack("spare", is_default=False)
    first = execute(trigger(ready, "arithmetic", user=owner, n=7, gate=""))
    sign_in(page, "olivia")
    open_run(page, first)
    expect(page.locator(".run-header")).to_contain_text("used where a step's code, inputs and parameters match")

    page.get_by_role("button", name="Run again…").click()
    expect(page).to_have_url(re.compile(rf"/pipelines/arithmetic/\?again={first.pk}$"))
    expect(page.locator("#app h2", has_text=f"Run #{first.pk} again")).to_be_visible()
    form = page.locator("form.trigger")
    expect(form.locator("[name=param-n]")).to_have_value("7")
    expect(form.locator("select[name=stack]")).to_have_value("local")
    changes = form.locator(".changes")
    expect(changes).to_have_text(f"The same parameters and stack as run #{first.pk}.")

    form.locator("[name=param-n]").fill("9")
    expect(changes.locator("li[data-param=n]")).to_have_text("n: 7 → 9")
    form.locator("[name=param-n]").fill("")
    expect(changes.locator("li[data-param=n]")).to_have_text("n: not a valid value yet")
    form.locator("[name=param-n]").fill("9")
    form.locator("select[name=stack]").select_option("spare")
    expect(changes.locator("li[data-param=stack]")).to_have_text("stack: local → spare")
    form.locator("select[name=stack]").select_option("local")
    expect(changes.locator("li[data-param=stack]")).to_have_count(0)
    form.locator("input[name=fresh]").check()
    expect(changes.locator("li[data-param=cache]")).to_have_text("fresh: the cache is not used")
    expect(changes.locator("li")).to_have_count(2)

    form.get_by_role("button", name="Run in Ml").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    again = Run.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert again.pk != first.pk
    assert (again.params["n"], again.stack.name, again.use_cache) == (9, "local", False)
    expect(page.locator(".run-header")).to_contain_text("not used: a fresh run, every step executed")
