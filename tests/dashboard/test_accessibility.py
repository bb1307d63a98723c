"""axe-core finds no serious or critical accessibility violation on any page of the portal."""

from __future__ import annotations

from playwright.sync_api import expect

from runs.models import RunStatus
from tests.runs.helpers import execute

from .axe import blocking_violations
from .helpers import open_run, screenshot, sign_in, trigger


def check(page, url: str, ready_selector: str) -> list[str]:
    page.goto(url)
    expect(page.locator(ready_selector).first).to_be_visible()
    return [f"{url}: {v}" for v in blocking_violations(page)]


def test_no_page_has_a_serious_or_critical_accessibility_violation(new_page, ready, owner):
    failed = execute(trigger(ready, "exploding", user=owner))
    completed = execute(trigger(ready, "arithmetic", user=owner))
    assert (failed.status, completed.status) == (RunStatus.FAILED, RunStatus.COMPLETED)
    page = new_page(bypass_csp=True)

    found = check(page, "/login/", "form button[type=submit]")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "wrong")
    page.click("form button[type=submit]")
    expect(page.locator(".error[role=alert]")).to_be_visible()
    found += [f"/login/ (refused): {v}" for v in blocking_violations(page)]

    sign_in(page, "olivia")
    found += check(page, "/runs/", "table.runs tbody tr")
    for run in (failed, completed):
        open_run(page, run)
        expect(page.locator(".log-panel .count")).to_contain_text("lines")
        found += [f"/runs/{run.pk}/: {v}" for v in blocking_violations(page)]
    found += check(page, "/pipelines/", "section.card.pipeline")
    found += check(page, "/pipelines/arithmetic/", "form.trigger")
    found += check(page, "/stacks/", "#app h1")
    found += check(page, "/no-such-page/", "h1")  # the 404 page
    assert not found, "\n".join(found)


def test_dark_mode_follows_the_system_and_stays_readable(new_page, ready, owner):
    failed = execute(trigger(ready, "exploding", user=owner))
    page = new_page(bypass_csp=True, color_scheme="dark")

    def background_is_dark() -> bool:
        # The page's background colour, as relative luminance (WCAG's formula), is near black.
        return page.evaluate("""() => {
          const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number)
            .map((c) => c / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.05;
        }""")

    found = check(page, "/login/", "form button[type=submit]")
    assert background_is_dark()
    sign_in(page, "olivia")
    found += check(page, "/runs/", "table.runs tbody tr")
    assert background_is_dark()
    open_run(page, failed)
    expect(page.locator(".log-panel .count")).to_contain_text("lines")
    found += [f"/runs/{failed.pk}/: {v}" for v in blocking_violations(page)]
    screenshot(page, "run-failed-dark")
    found += check(page, "/pipelines/", "section.card.pipeline")
    found += check(page, "/pipelines/arithmetic/", "form.trigger")
    found += check(page, "/stacks/", "#app h1")
    assert not found, "\n".join(found)

    # The same portal in a light system setting has a light background.
    light = new_page(color_scheme="light")
    light.goto("/login/")
    assert light.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
