"""Team management in the portal: owners add and remove members and change roles; everyone manages their own
API tokens, whose key is shown once."""

from __future__ import annotations

import datetime

import requests
from playwright.sync_api import expect

from accounts.models import ApiToken, Membership, Role
from tests.factories import make_user

from .helpers import screenshot, sign_in


def member_row(page, username):
    return page.locator(f"table.members tr[data-member='{username}']")


def test_an_owner_adds_changes_and_removes_a_member(page, ready, owner):
    make_user("marco")
    make_user("gone", is_active=False)
    sign_in(page, "olivia")
    page.click("header.topbar nav a[data-nav=team]")
    expect(page.locator("#app h1")).to_contain_text("Team")
    expect(member_row(page, "olivia")).to_contain_text("(you)")

    form = page.locator("form.add-member")
    field_error = form.locator(".field-error")
    # A name nobody has and a deactivated user's get the same answer: the page tells no more than the API.
    for name in ("nobody", "gone"):
        form.get_by_label("Username").fill(name)
        form.get_by_role("button", name="Add").click()
        expect(field_error).to_have_text("no active user with that username")
    expect(page.locator("table.members tbody tr")).to_have_count(1)

    form.get_by_label("Username").fill("marco")
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Add").click()
    expect(page.locator("#app .message.info")).to_have_text("marco was added as a viewer.")
    expect(field_error).to_have_text("")
    expect(member_row(page, "marco").get_by_label("Role of marco")).to_have_value("viewer")
    assert Membership.objects.get(project=ready, user__username="marco").role == Role.VIEWER

    member_row(page, "marco").get_by_label("Role of marco").select_option("member")
    expect(page.locator("#app .message.info")).to_have_text("marco is now a member.")
    assert Membership.objects.get(project=ready, user__username="marco").role == Role.MEMBER
    # Taken before the refused add below, whose error under the form the README's picture would show.
    screenshot(page, "team")

    form.get_by_label("Username").fill("marco")
    form.get_by_role("button", name="Add").click()
    expect(field_error).to_have_text("marco is a member already")

    # The last owner cannot step down: the page says why and shows the role still held.
    member_row(page, "olivia").get_by_label("Role of olivia").select_option("viewer")
    expect(page.locator("#app .message.error")).to_contain_text("a project must keep at least one owner")
    expect(member_row(page, "olivia").get_by_label("Role of olivia")).to_have_value("owner")

    member_row(page, "marco").get_by_role("button", name="Remove").click()
    page.locator("dialog.confirm button.danger").click()
    expect(member_row(page, "marco")).to_have_count(0)
    assert not Membership.objects.filter(project=ready, user__username="marco").exists()


def test_members_see_the_team_but_only_owners_change_it(page, ready):
    Membership.objects.create(project=ready, user=make_user("marco"), role=Role.MEMBER)
    sign_in(page, "marco")
    page.goto("/team/")
    expect(member_row(page, "olivia")).to_contain_text("owner")
    expect(member_row(page, "marco")).to_contain_text("member")
    expect(page.locator("table.members select")).to_have_count(0)
    expect(page.locator("table.members button")).to_have_count(0)
    expect(page.locator("form.add-member")).to_have_count(0)
    expect(page.locator("#app .message.info")).to_contain_text("Only the owners of Ml add and remove members")


def test_a_user_creates_uses_and_revokes_a_token_whose_key_is_shown_once(page, live_server, ready):
    sign_in(page, "olivia")
    page.click("header.topbar nav a[data-nav=tokens]")
    expect(page.locator("table.tokens")).to_contain_text("No tokens yet.")

    form = page.locator("form.new-token")
    form.get_by_role("button", name="Create").click()
    expect(form.locator(".field-error").first).to_have_text("Give the token a name that says where it is used.")
    expires = datetime.date.today() + datetime.timedelta(days=30)
    form.get_by_label("Token name").fill("CI on main")
    form.get_by_label("Expires on").fill(expires.isoformat())
    form.get_by_role("button", name="Create").click()

    issued = page.locator(".issued")
    expect(issued).to_contain_text("Copy it now: it is not shown again.")
    key = issued.locator("code.key").inner_text()
    token = ApiToken.objects.get(user__username="olivia")
    assert key.startswith(f"fs_{token.prefix}_") and token.name == "CI on main"
    assert token.expires_at.date() >= expires
    row = page.locator(f"table.tokens tr[data-token='{token.pk}']")
    expect(row).to_contain_text(f"fs_{token.prefix}_…")
    expect(row.locator("td.state")).to_have_text("active")
    expect(row).to_contain_text("never")  # not used yet

    me = requests.get(f"{live_server.url}/api/me/", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "olivia"
    page.reload()
    expect(row.locator("td.state")).to_have_text("active")
    expect(row.locator("td").nth(3)).not_to_have_text("never")
    expect(page.locator(".issued code.key")).to_have_count(0)
    assert key not in page.content()

    row.get_by_role("button", name="Revoke").click()
    page.locator("dialog.confirm button.danger").click()
    expect(row.locator("td.state")).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    refused = requests.get(f"{live_server.url}/api/me/", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert refused.status_code == 401
