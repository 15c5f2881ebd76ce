"""What a browser must not be talked into: forms without the CSRF token, cross-site posts, open redirects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from tests.support.browser import BrowserSession
from tests.support.stacks import SQLITE_SQL

pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)


def test_form_without_csrf_token_fails(user_context: BrowserSession):
    page = user_context.new_page()
    user_context.sign_in(page, "alice@acme.test")
    page.locator("form.switcher input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Current deal").select_option(label="Northwind Logistics buyout")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("That request could not be used")
    expect(page.get_by_text("The CSRF token is missing.")).to_be_visible()
    page.goto("/")
    expect(page.get_by_text("No deal selected.")).to_be_visible()


def test_form_posted_from_another_site_changes_nothing(user_context: BrowserSession, demo):
    page = user_context.new_page()
    user_context.sign_in(page, "alice@acme.test")
    attack = (
        "<!doctype html><title>Win a prize</title>"
        f'<form method="post" action="{user_context.base_url}/deals/select">'
        f'<input type="hidden" name="deal_id" value="{demo["northwind"]}"><button>Claim</button></form>'
    )

    def evil_site(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=attack)

    user_context.context.route("http://evil.test/**", evil_site)
    page.goto("http://evil.test/")
    page.get_by_role("button", name="Claim").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).not_to_have_text(re.compile("Northwind"))
    page.goto(f"{user_context.base_url}/")
    expect(page.get_by_text("No deal selected.")).to_be_visible()


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test/", "/\\evil.test"])
def test_next_redirect_refuses_another_site(user_context: BrowserSession, target):
    page = user_context.new_page()
    user_context.sign_in(page, "bob@acme.test", next_path=target)
    expect(page).to_have_url(f"{user_context.base_url}/")


def test_next_redirect_returns_to_the_page_asked_for(user_context: BrowserSession, demo):
    page = user_context.new_page()
    page.goto(f"/deals/{demo['tailspin']}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill("bob@acme.test")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{user_context.base_url}/deals/{demo['tailspin']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tailspin Air carve-out")


def test_wrong_password_shows_one_message(user_context: BrowserSession):
    page = user_context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill("nobody@acme.test")
    page.get_by_label("Password").fill("whatever")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value("nobody@acme.test")
