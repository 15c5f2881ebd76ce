"""Deal pages in a real browser: create, search, edit, members, notes, delete — with and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import BrowserSession
from tests.support.stacks import SQLITE_SQL

pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)


def test_create_search_edit_share_note_and_delete_a_deal(user_context: BrowserSession, demo):
    page = user_context.new_page()
    user_context.sign_in(page, "bob@acme.test")
    page.get_by_role("link", name="Deals", exact=True).click()

    new_deal = page.get_by_role("region", name="New deal")  # the list's filters have a Stage too
    new_deal.get_by_label("Name", exact=True).fill("Zephyr Foods roll-up")
    new_deal.get_by_label("Stage").select_option(label="Negotiation")
    new_deal.get_by_label("Value").fill("2500000")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zephyr Foods roll-up")
    expect(page.get_by_role("status")).to_have_text("Created “Zephyr Foods roll-up”.")

    page.get_by_text("Edit details").click()
    page.get_by_label("Value").fill("2750000.25")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".facts")).to_contain_text("2,750,000.25")

    page.get_by_label("Person").select_option(label="dave@acme.test")
    page.get_by_label("Role", exact=True).select_option(label="Editor")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#members")).to_contain_text("dave@acme.test")

    note = page.get_by_label("New note")
    note.fill("x" * 1850)
    expect(page.locator("#note-count")).to_have_text("150 characters left")  # app.js, under the CSP
    note.fill("Founder call went well.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".note").first).to_contain_text("Founder call went well.")
    expect(page.locator(".note").first).to_contain_text("bob@acme.test")

    page.get_by_role("link", name="Deals", exact=True).click()
    page.get_by_label("Name or owner").fill("zephyr")
    page.get_by_role("button", name="Show deals").click()
    expect(page.locator("table.deals tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Delete Zephyr Foods roll-up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete “Zephyr Foods roll-up”?")
    page.get_by_role("button", name="Delete deal").click()
    expect(page.get_by_role("status").first).to_have_text("Zephyr Foods roll-up was deleted.")
    expect(page.get_by_role("link", name="Zephyr Foods roll-up")).to_have_count(0)


def test_pages_work_without_javascript(open_context, demo):
    plain = open_context(java_script_enabled=False)
    page = plain.new_page()
    plain.sign_in(page, "bob@acme.test")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    page.get_by_label("Current deal").select_option(label="Woodgrove Bank branch sale")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("h1.current-deal")).to_have_text("Woodgrove Bank branch sale")

    page.goto(f"/deals/{demo['woodgrove']}")
    page.get_by_role("button", name="Remove dave@acme.test").click()  # no confirm() without JavaScript
    expect(page.get_by_role("status")).to_have_text("Removed dave@acme.test from Woodgrove Bank branch sale.")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
