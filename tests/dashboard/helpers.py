"""What the browser tests share: signing in, starting runs, screenshots, reading the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from accounts.models import Project
from runs.models import Run

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
RUN_TIMEOUT_MS = 30_000  # a run through the real worker, end to end


def sign_in(page: Any, username: str, password: str = "pw") -> None:
    """Through the real login form; ends on the runs page."""
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"^http://[^/]+/runs/$"))
    expect(page.locator("header.topbar .who")).to_have_text(username)


def trigger(project: Project, pipeline: str, user: Any = None, **params: Any) -> Run:
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params, user=user)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def status_badge(page: Any) -> Any:
    return page.locator("#run-status .badge")


def open_run(page: Any, run: Run) -> None:
    """The run's page, once drawn (its header is there, and with it the action buttons)."""
    page.goto(f"/runs/{run.pk}/")
    expect(page.locator(".run-header dl.facts")).to_be_visible()


def log_texts(page: Any) -> list[str]:
    """The log lines the panel has in the DOM now (only those in or near view)."""
    return page.locator(".log-viewport .line .text").all_inner_texts()


def open_confirmation(page: Any, button: str) -> Any:
    """Press an action button; returns its confirmation dialog, open.

    The run page redraws its buttons every second while the run is active; a click that lands just as its
    button is replaced is lost, so the button is pressed again until the dialog is open.
    """
    dialog = page.locator("dialog.confirm")
    for _ in range(10):
        page.click(button)
        try:
            dialog.wait_for(state="visible", timeout=1_000)
            break
        except PlaywrightTimeoutError:
            continue
    expect(dialog).to_be_visible()
    return dialog


def confirm(page: Any, button: str) -> None:
    """Press an action button and confirm in its dialog."""
    dialog = open_confirmation(page, button)
    dialog.locator("button.danger").click()
    expect(dialog).to_have_count(0)
