"""Changes made elsewhere are announced on the open page, without a reload (web/static/announce.js).

Two tabs of one browser (BroadcastChannel), two browsers of one user (the poll of
``GET /api/context``: a session ended elsewhere), two users (a deal deleted by another):
each page says so within a few seconds, in its live region, and keeps what was typed.
The next page load then names who did it and when (web/templates/_context_notice.html).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import DEFAULT_TIMEOUT_MS, SESSION_STACKS, BrowserSession

pytestmark = pytest.mark.parametrize("stack", SESSION_STACKS, indirect=True, ids=lambda s: s.id)

# A few seconds, bounded.
ANNOUNCED_WITHIN_MS = 10_000
WOODGROVE = "Woodgrove Bank branch sale"
NORTHWIND = "Northwind Logistics buyout"


@pytest.fixture(autouse=True)
def bounded_waits(app: Flask) -> Iterator[None]:
    """Every wait in this module gives up after 10 s (the folder's default is 15 s); pages poll every second.

    A 1 s poll keeps the 10 s bound wide of a slow request (4 s at most) and a backoff after it on a loaded machine.
    """
    app.config["ANNOUNCE_POLL_SECONDS"] = 1
    expect.set_options(timeout=ANNOUNCED_WITHIN_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=DEFAULT_TIMEOUT_MS)


def announcer(page: Page) -> Locator:
    return page.locator("[data-announcer]")


def new_profile(open_context: Callable[..., BrowserSession]) -> BrowserSession:
    profile = open_context()
    profile.context.set_default_timeout(ANNOUNCED_WITHIN_MS)
    return profile


def signed_in_page(open_context: Callable[..., BrowserSession], email: str) -> Page:
    profile = new_profile(open_context)
    page = profile.new_page()
    profile.sign_in(page, email)
    return page


def switch_to(page: Page, deal_name: str) -> None:
    page.get_by_label("Current deal").select_option(label=deal_name)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_load_state()


def mark_unreloaded(page: Page) -> None:
    """Leave a mark that only this very document carries: a reload would lose it."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded under the person"


def test_a_switch_and_a_sign_out_in_another_tab_are_announced(open_context, demo):
    profile = new_profile(open_context)
    tab_a = profile.new_page()
    profile.sign_in(tab_a, "alice@acme.test")
    switch_to(tab_a, NORTHWIND)
    mark_unreloaded(tab_a)
    # Tab A's poll fails from now on: only the other tab's message (BroadcastChannel) can tell it.
    tab_a.route("**/api/context", lambda route: route.abort())
    region = announcer(tab_a)
    expect(region).to_have_attribute("aria-live", "polite")

    tab_b = profile.new_page()
    tab_b.goto(profile.base_url + "/")
    switch_to(tab_b, WOODGROVE)

    expect(region).to_contain_text(f"This page shows {NORTHWIND}.", timeout=ANNOUNCED_WITHIN_MS)
    expect(region).to_contain_text(f"The current deal changed to {WOODGROVE} in another tab or window.")
    expect(region.get_by_role("link", name=f"Go to {WOODGROVE}")).to_have_attribute(
        "href", f"/deals/{demo['woodgrove']}"
    )
    assert_not_reloaded(tab_a)
    region.get_by_role("button", name="Reload").click()
    tab_a.wait_for_load_state()
    expect(tab_a.get_by_label("Current deal")).to_have_value(str(demo["woodgrove"]))
    expect(region).to_be_empty()

    tab_b.get_by_role("button", name="Sign out").click()
    expect(region).to_contain_text("You signed out in another tab.")


def test_a_session_ended_from_another_browser_is_announced_and_the_text_stays(open_context, demo):
    laptop = signed_in_page(open_context, "bob@acme.test")
    laptop.goto(f"/deals/{demo['tailspin']}")  # bob's own deal: he may add a note
    note = laptop.locator("textarea").first
    note.fill("Call the bank on Monday")
    mark_unreloaded(laptop)

    phone = signed_in_page(open_context, "bob@acme.test")
    phone.goto("/settings/sessions")
    phone.once("dialog", lambda dialog: dialog.accept())
    phone.get_by_role("button", name="Sign out everywhere else").click()
    phone.wait_for_load_state()

    region = announcer(laptop)
    expect(region).to_contain_text("You were signed out", timeout=ANNOUNCED_WITHIN_MS)
    expect(region.get_by_role("link", name="Sign in")).to_have_attribute(
        "href", re.compile(r"^/login\?next=%2Fdeals%2F\d+$")
    )
    assert_not_reloaded(laptop)
    expect(note).to_have_value("Call the bank on Monday")
    region.get_by_role("link", name="Sign in").click()
    expect(laptop.locator(".context-notice")).to_contain_text("Your session ended: you were signed out elsewhere")


def test_a_deal_deleted_by_another_user_is_announced_then_named_on_the_next_page(open_context, demo):
    dave = signed_in_page(open_context, "dave@acme.test")
    switch_to(dave, WOODGROVE)
    mark_unreloaded(dave)

    bob = signed_in_page(open_context, "bob@acme.test")
    bob.goto(f"/deals/{demo['woodgrove']}/delete")
    bob.get_by_role("button", name="Delete deal").click()
    bob.wait_for_load_state()

    said = re.compile(rf"bob@acme\.test deleted {WOODGROVE} at \d\d:\d\d UTC\. No deal is selected now\.")
    expect(announcer(dave)).to_contain_text(said, timeout=ANNOUNCED_WITHIN_MS)
    assert_not_reloaded(dave)

    dave.reload()
    expect(dave.locator(".context-notice")).to_have_text(said)
    expect(dave.get_by_text("No deal selected.")).to_be_visible()
    dave.reload()
    expect(dave.locator(".context-notice")).to_have_count(0)
