"""Sessions in a real browser: a session revoked from another device lands on /login."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import SESSION_STACKS

PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
pytestmark = pytest.mark.parametrize("stack", SESSION_STACKS, indirect=True, ids=lambda s: s.id)


def test_revoked_session_lands_on_login(open_context, demo):
    phone = open_context(user_agent=PHONE_USER_AGENT)
    phone_page = phone.new_page()
    phone.sign_in(phone_page, "bob@acme.test")
    phone_page.goto(f"/deals/{demo['tailspin']}")

    laptop = open_context()
    laptop_page = laptop.new_page()
    laptop.sign_in(laptop_page, "bob@acme.test")
    laptop_page.get_by_role("link", name="Sessions").click()
    sessions = laptop_page.locator(".session")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("This device")
    expect(sessions.nth(1)).to_contain_text("Chrome 126.0 on Android 14 · Pixel 8")
    laptop_page.get_by_role("button", name=re.compile(r"^Revoke the session \S+ on Chrome 126 on Android")).click()
    expect(laptop_page.get_by_role("status")).to_have_text("That session was signed out.")
    expect(sessions).to_have_count(1)

    phone_page.reload()
    expect(phone_page).to_have_url(re.compile(rf"/login\?next=/deals/{demo['tailspin']}$"))
    expect(phone_page.get_by_role("heading", name="Sign in")).to_be_visible()
