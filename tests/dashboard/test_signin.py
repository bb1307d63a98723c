"""Signing in and out, what anonymous visitors get, and the pages for addresses that name nothing."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .helpers import sign_in


def test_sign_in_and_out(page, owner):
    page.goto("/login/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "not-the-password")
    page.click("form button[type=submit]")
    error = page.locator(".login .error[role=alert]")
    expect(error).to_have_text("That username and password do not match. Try again.")
    expect(page).to_have_url(re.compile(r"/login/$"))

    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "pw")
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"^http://[^/]+/runs/$"))
    expect(page.locator("header.topbar .who")).to_have_text("olivia")
    expect(page.locator("#app h1")).to_have_text("Runs")
    expect(page.locator("[data-nav=runs]")).to_have_class(re.compile(r"\bactive\b"))

    page.click("form.signout button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("input[name=username]")).to_be_visible()

    # Signed out, the dashboard sends you to the login form, and back to where you were going after it.
    page.goto("/runs/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/runs/$"))
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "pw")
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"^http://[^/]+/runs/$"))


def test_an_anonymous_visit_to_any_dashboard_page_goes_to_the_login_form(page, owner):
    for path in ("/runs/", "/runs/1/", "/pipelines/", "/pipelines/greeting/", "/stacks/", "/"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/login/\?next=" + re.escape(path) + "$"))


def test_the_404_page_and_a_run_that_does_not_exist(page, ready):
    response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Nothing here")
    expect(page.locator("main a[href='/runs/']")).to_be_visible()

    sign_in(page, "olivia")
    page.goto("/runs/999999/")
    expect(page.locator("#app h1")).to_have_text("Run #999999")
    expect(page.locator("#app .message.error")).to_have_text(
        "There is no such run, or it belongs to a project you are not in."
    )
    page.goto("/pipelines/no-such-pipeline/")
    expect(page.locator("#app .message.error")).to_have_text("There is no pipeline with this name.")
