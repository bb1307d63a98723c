"""The API's interactive docs as a person reads them."""

from __future__ import annotations

from playwright.sync_api import expect

from .helpers import sign_in


def test_the_docs_show_the_authorization_header_literally(page, owner):
    sign_in(page, "olivia")
    page.goto("/api/docs/")
    # Swagger UI reads the description as Markdown: a bare <key> would be taken for an HTML tag and vanish.
    expect(page.locator(".info .description")).to_contain_text("Authorization: Token <key>")
    expect(page.locator(".opblock-summary-operation-id", has_text="cancel_run").first).to_be_attached()
