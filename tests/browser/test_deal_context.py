"""The working deal in a real browser: switcher, restore on sign-in, tabs, removal from a deal."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import SESSION_STACKS, BrowserSession

pytestmark = pytest.mark.parametrize("stack", SESSION_STACKS, indirect=True, ids=lambda s: s.id)


def current_deal_heading(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("h1.current-deal")


def switch_to(page: Page, deal_name: str) -> None:
    """Pick ``deal_name`` in the header's switcher; the page then shows it as the current deal."""
    page.get_by_label("Current deal").select_option(label=deal_name)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_load_state()
    expect(current_deal_heading(page)).to_have_text(deal_name)


def signed_in_page(open_context: Callable[..., BrowserSession], email: str) -> Page:
    """A page of a new browser profile, signed in as ``email``."""
    profile = open_context()
    page = profile.new_page()
    profile.sign_in(page, email)
    return page


def test_sign_in_and_select_from_the_switcher(user_context: BrowserSession, demo):
    page = user_context.new_page()
    user_context.sign_in(page, "alice@acme.test")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_text("No deal selected.")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("Acme Capital")
    expect(page.locator(".who")).to_contain_text("alice@acme.test")

    switch_to(page, "Northwind Logistics buyout")

    expect(page.get_by_label("Current deal")).to_have_value(str(demo["northwind"]))
    page.get_by_role("button", name="Clear selection").click()
    expect(page.get_by_text("No deal selected.")).to_be_visible()


def test_deal_comes_back_in_a_new_browser_context(open_context, demo):
    first = signed_in_page(open_context, "bob@acme.test")
    switch_to(first, "Tailspin Air carve-out")
    first.context.close()

    page = signed_in_page(open_context, "bob@acme.test")
    expect(current_deal_heading(page)).to_have_text("Tailspin Air carve-out")
    expect(page.get_by_label("Current deal")).to_have_value(str(demo["tailspin"]))


def test_selection_in_one_tab_shows_in_the_other_after_reload(user_context: BrowserSession):
    first_tab = user_context.new_page()
    user_context.sign_in(first_tab, "alice@acme.test")
    second_tab = user_context.new_page()
    second_tab.goto("/")
    expect(second_tab.get_by_text("No deal selected.")).to_be_visible()

    switch_to(first_tab, "Fabrikam Robotics series C")

    second_tab.reload()
    expect(current_deal_heading(second_tab)).to_have_text("Fabrikam Robotics series C")


def test_user_removed_from_the_deal_sees_no_deal_on_the_next_page(open_context, demo):
    dave_page = signed_in_page(open_context, "dave@acme.test")
    switch_to(dave_page, "Woodgrove Bank branch sale")

    admin_page = signed_in_page(open_context, "alice@acme.test")
    admin_page.goto(f"/deals/{demo['woodgrove']}")
    admin_page.once("dialog", lambda dialog: dialog.accept())
    admin_page.get_by_role("button", name="Remove dave@acme.test").click()
    expect(admin_page.get_by_role("status")).to_have_text("Removed dave@acme.test from Woodgrove Bank branch sale.")

    dave_page.goto("/deals")
    expect(dave_page.get_by_label("Current deal")).to_have_value("")
    expect(dave_page.get_by_role("link", name="Woodgrove Bank branch sale")).to_have_count(0)
    dave_page.goto("/")
    expect(dave_page.get_by_text("No deal selected.")).to_be_visible()
