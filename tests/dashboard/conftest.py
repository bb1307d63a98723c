"""The dashboard in a real browser: Debian's Chromium driven by Playwright against pytest-django's live server.

One browser for the whole package, a fresh context (cookies, localStorage) per page a test opens. Every page
records its JavaScript errors; a test that caused one fails at teardown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for every test of this package."""
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Debian's Chromium at {CHROMIUM}: `apt-get install chromium`")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # its own default (5 s) is short for a loaded machine

    # Playwright's sync API keeps an asyncio loop marked as running on this thread, which makes Django refuse
    # ORM calls from the tests ("cannot call this from an async context"). The tests call the ORM only between
    # browser calls, never concurrently with it, so the check is lifted, for as long as the browser lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Pages:
    """Opens pages, each in a fresh browser context, and remembers the JavaScript errors they raised."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def __call__(self, **options: Any) -> Any:
        options = {"viewport": VIEWPORT, "locale": "en-US", **options}  # a test may ask for a phone's viewport
        context = self.browser.new_context(base_url=self.base_url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def new_page(browser: Any, live_server: Any, transactional_db: Any) -> Iterator[Callable[..., Any]]:
    """`new_page()` opens a page in a fresh context; all are closed before the database is flushed."""
    pages = Pages(browser, live_server.url)
    try:
        yield pages
    finally:
        pages.close()
    assert not pages.errors, "JavaScript errors in the page:\n" + "\n".join(pages.errors)


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()
