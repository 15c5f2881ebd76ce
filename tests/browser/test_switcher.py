"""The deal switcher in Chromium: Ctrl+K, a few letters and Enter from any page, leaving the person where
they were; Escape; a deal's page; the sticky header; the compact phone header (with and without JavaScript)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import DEFAULT_TIMEOUT_MS, BrowserSession
from tests.support.stacks import SQLITE_SQL
from web.deal_context.header import SWITCHER_LIMIT
from web.extensions import db
from web.identity.models import User

pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)

TIMEOUT_MS = 10_000
PHONE = {"width": 390, "height": 844}
# The issue measured 270 px of 844 for the header on a phone; the compact header is about 112.
PHONE_HEADER_MAX_PX = 120


@pytest.fixture(autouse=True)
def bounded_waits() -> Iterator[None]:
    """Every wait in this module gives up after 10 s (the shared default is longer)."""
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=DEFAULT_TIMEOUT_MS)


def signed_in_page(profile: BrowserSession, email: str = "alice@acme.test") -> Page:
    profile.context.set_default_timeout(TIMEOUT_MS)
    page = profile.new_page()
    profile.sign_in(page, email)
    return page


def switcher(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("dialog", name="Switch to deal")


def choices(page: Page):  # type: ignore[no-untyped-def]
    """The type-ahead's options (the header's <select> has options too)."""
    return switcher(page).get_by_role("listbox", name="Deals").get_by_role("option")


def type_ahead(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("combobox", name="Switch to deal")


def test_ctrl_k_a_few_letters_and_enter_switch_and_stay_on_the_page(app, make, user_context: BrowserSession, demo):
    """Also beyond the header's 50 deals: with 50 more, "Deal …" sorts before Fabrikam, which only the search finds."""
    with app.app_context():
        alice = db.session.get(User, demo["alice"])
        db.session.expunge(alice)
        db.session.remove()
    for number in range(SWITCHER_LIMIT):
        make.deal(alice, name=f"Deal {number:03}")
    page = signed_in_page(user_context)
    page.goto("/settings/sessions")
    expect(page.get_by_label("Current deal").locator(f'option[value="{demo["fabrikam"]}"]')).to_have_count(0)
    page.keyboard.press("Control+K")
    expect(switcher(page)).to_be_visible()
    expect(type_ahead(page)).to_be_focused()
    expect(switcher(page).get_by_role("status")).to_have_text(
        f"{SWITCHER_LIMIT} of {SWITCHER_LIMIT + 5} deals, most recently used first; type to search them all."
    )
    page.keyboard.type("fab")
    options = choices(page)
    expect(options).to_have_count(1)
    expect(options.first).to_have_text("Fabrikam Robotics series C")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(type_ahead(page)).to_have_attribute("aria-activedescendant", f"deal-switcher-option-{demo['fabrikam']}")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Switched to")).to_have_text(
        "Switched to “Fabrikam Robotics series C”."
    )
    expect(page).to_have_url(re.compile(r"/settings/sessions$"))
    expect(page.get_by_label("Current deal")).to_have_value(str(demo["fabrikam"]))


def test_escape_closes_and_gives_focus_back(user_context: BrowserSession, demo):
    page = signed_in_page(user_context)
    page.goto("/deals")
    search = page.get_by_label("Name or owner")
    search.focus()
    page.keyboard.press("Control+K")
    expect(type_ahead(page)).to_be_focused()
    expect(choices(page)).to_have_count(5)
    before = type_ahead(page).get_attribute("aria-activedescendant")
    page.keyboard.press("ArrowDown")
    expect(type_ahead(page)).not_to_have_attribute("aria-activedescendant", before or "")
    page.keyboard.press("Escape")
    expect(switcher(page)).to_be_hidden()
    expect(search).to_be_focused()
    expect(page).to_have_url(re.compile(r"/deals$"))
    expect(page.get_by_label("Current deal")).to_have_value("")


def test_on_a_deal_page_the_chosen_deals_page_opens(user_context: BrowserSession, demo):
    page = signed_in_page(user_context)
    page.goto(f"/deals/{demo['northwind']}")
    page.get_by_role("button", name="Find a deal").click()
    expect(type_ahead(page)).to_be_focused()
    page.keyboard.type("tail")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/deals/{demo['tailspin']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tailspin Air carve-out")
    # Most recently used first: the deal just chosen heads the list. (The shortcut works once switcher.js
    # has run, which shows the button.)
    expect(page.get_by_role("button", name="Find a deal")).to_be_visible()
    page.keyboard.press("Control+K")
    expect(choices(page).first).to_contain_text("Tailspin Air carve-out")
    expect(choices(page).first).to_contain_text("current")


def test_header_stays_in_view_after_scrolling(open_context, demo):
    profile = open_context(viewport={"width": 1280, "height": 600})
    page = signed_in_page(profile)
    page.goto(f"/deals/{demo['northwind']}")
    page.get_by_role("button", name="Make current").click()
    # The click posts and loads the page again: scrolled before that page is there, there is no body yet.
    expect(page.get_by_label("Current deal")).to_have_value(str(demo["northwind"]))
    page.wait_for_load_state()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("window.scrollY") > 200
    header = page.locator("header.site-header")
    box = header.bounding_box()
    assert box is not None and box["y"] == 0, box
    expect(page.get_by_label("Current deal")).to_be_in_viewport()
    expect(page.get_by_label("Current deal")).to_have_value(str(demo["northwind"]))


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_phone_header_is_compact(open_context, demo, javascript):
    profile = open_context(viewport=PHONE, java_script_enabled=javascript)
    page = signed_in_page(profile)
    page.goto(f"/deals/{demo['northwind']}")
    page.get_by_role("button", name="Make current").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Logistics buyout")
    box = page.locator("header.site-header").bounding_box()
    assert box is not None and box["height"] <= PHONE_HEADER_MAX_PX, box
    if javascript:
        # The current deal's name is the button that opens the switcher.
        page.get_by_role("button", name="Current deal: Northwind Logistics buyout").click()
        page.keyboard.type("cont")
        choices(page).filter(has_text="Contoso Health minority stake").click()
        expect(page).to_have_url(re.compile(rf"/deals/{demo['contoso']}$"))
    else:
        page.get_by_label("Current deal").select_option(label="Contoso Health minority stake")
        page.get_by_role("button", name="Switch", exact=True).click()
        expect(page).to_have_url(re.compile(rf"/deals/{demo['contoso']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Contoso Health minority stake")
