"""Nothing typed is lost, in Chromium (issue 14, items 1 and 3): two tabs, a session ended elsewhere, a reload.

Tab B's switch happens through the API (the switcher's own UI is tested in test_deal_context.py), so
these tests depend on the note form only. Every wait is bounded at 10 s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import SESSION_STACKS, BrowserSession
from tests.support.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.parametrize("stack", SESSION_STACKS, indirect=True, ids=lambda s: s.id)

WAIT_MS = 10_000


def signed_in_page(open_context: Callable[..., BrowserSession], email: str) -> Page:
    profile = open_context()
    page = profile.new_page()
    page.set_default_timeout(WAIT_MS)
    profile.sign_in(page, email)
    return page


def select_through_api(page: Page, deal_id: int) -> None:
    """Make ``deal_id`` current in this browser's session, as another tab of it would."""
    token = page.request.get("/api/csrf").json()["csrf_token"]
    response = page.request.post(f"/api/deals/{deal_id}/select", headers={"X-CSRFToken": token})
    assert response.status == 200, response.text()


DRAFT_KEYS = "Object.keys(sessionStorage).filter(function (k) { return k.indexOf('dealdesk:draft:') === 0; })"


def stored_drafts(page: Page) -> list[str]:
    return page.evaluate(DRAFT_KEYS)


def drafts_once_cleared(page: Page) -> list[str]:
    """The stored drafts once drafts.js has had its turn: it is deferred, and clears a saved draft's key after the
    page that confirms it is parsed, which can be after the confirmation is already visible. The caller's
    assertion names any keys left after ``WAIT_MS``.

    Polled with ``page.evaluate``: ``wait_for_function`` evaluates its predicate in the page again while it waits,
    which the pages' CSP (no ``unsafe-eval``) refuses (microsoft/playwright#36986)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    drafts = stored_drafts(page)
    while drafts and time.monotonic() < deadline:
        page.wait_for_timeout(50)
        drafts = stored_drafts(page)
    return drafts


def test_note_from_a_stale_home_tab_lands_on_its_deal_with_a_visible_confirmation(open_context, demo):
    tab_a = signed_in_page(open_context, "alice@acme.test")
    select_through_api(tab_a, demo["northwind"])
    tab_a.goto("/")
    expect(tab_a.locator("h1.current-deal")).to_have_text("Northwind Logistics buyout", timeout=WAIT_MS)
    tab_b = tab_a.context.new_page()
    tab_b.set_default_timeout(WAIT_MS)
    select_through_api(tab_b, demo["fabrikam"])  # tab B switches; tab A still shows Northwind

    tab_a.get_by_label("New note").fill("Lender call moved to Friday")
    tab_a.get_by_role("button", name="Add note").click()

    expect(tab_a).to_have_url(re.compile(rf"/deals/{demo['northwind']}#note-form$"), timeout=WAIT_MS)
    confirmation = tab_a.locator(".form-confirmation")
    expect(confirmation).to_have_text("Note added to Northwind Logistics buyout.", timeout=WAIT_MS)
    expect(confirmation).to_be_in_viewport(timeout=WAIT_MS)
    expect(tab_a.locator(".note").first).to_contain_text("Lender call moved to Friday", timeout=WAIT_MS)
    assert drafts_once_cleared(tab_a) == []


def test_note_typed_after_being_signed_out_elsewhere_survives_sign_in(open_context, demo):
    page = signed_in_page(open_context, "bob@acme.test")
    page.goto(f"/deals/{demo['woodgrove']}")
    page.get_by_label("New note").fill("Branch list is final")
    other = signed_in_page(open_context, "bob@acme.test")
    token = other.request.get("/api/csrf").json()["csrf_token"]
    revoked = other.request.post("/settings/sessions/revoke-others", form={"csrf_token": token}, max_redirects=0)
    assert revoked.status == 302  # "Sign out everywhere else" on the other browser

    page.get_by_role("button", name="Add note").click()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("alert")).to_contain_text(
        "your note for Woodgrove Bank branch sale is kept", timeout=WAIT_MS
    )
    expect(page.locator("#kept-text")).to_have_value("Branch list is final", timeout=WAIT_MS)
    page.get_by_label("Email").fill("bob@acme.test")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(rf"/deals/{demo['woodgrove']}#note-form$"), timeout=WAIT_MS)
    expect(page.get_by_label("New note")).to_have_value("Branch list is final", timeout=WAIT_MS)
    expect(page.locator(".form-kept")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".form-confirmation")).to_have_text(
        "Note added to Woodgrove Bank branch sale.", timeout=WAIT_MS
    )
    expect(page.locator(".note").first).to_contain_text("Branch list is final", timeout=WAIT_MS)
    assert drafts_once_cleared(page) == []


def test_typed_note_comes_back_after_a_reload_until_it_is_saved(user_context: BrowserSession, demo):
    page = user_context.new_page()
    page.set_default_timeout(WAIT_MS)
    user_context.sign_in(page, "bob@acme.test")
    page.goto(f"/deals/{demo['tailspin']}")
    page.get_by_label("New note").fill("Half a thought")
    page.reload()

    expect(page.get_by_label("New note")).to_have_value("Half a thought", timeout=WAIT_MS)
    expect(page.locator(".draft-restored")).to_contain_text("not sent", timeout=WAIT_MS)
    page.goto(f"/deals/{demo['woodgrove']}")
    expect(page.get_by_label("New note")).to_have_value("", timeout=WAIT_MS)  # bound to its own deal
    page.goto(f"/deals/{demo['tailspin']}")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".form-confirmation")).to_be_visible(timeout=WAIT_MS)
    # Reloaded before drafts.js (deferred) has read the confirmation, the tab cannot know the text was saved.
    assert drafts_once_cleared(page) == []
    page.reload()
    expect(page.get_by_label("New note")).to_have_value("", timeout=WAIT_MS)
    assert drafts_once_cleared(page) == []


def test_note_on_a_deal_deleted_elsewhere_says_who_and_keeps_the_text(open_context, demo):
    page = signed_in_page(open_context, "bob@acme.test")
    page.goto(f"/deals/{demo['tailspin']}")
    page.get_by_label("New note").fill("Carve-out memo v2")
    alice = signed_in_page(open_context, "alice@acme.test")
    token = alice.request.get("/api/csrf").json()["csrf_token"]
    deleted = alice.request.delete(f"/api/deals/{demo['tailspin']}", headers={"X-CSRFToken": token})
    assert deleted.status in (200, 204), deleted.text()

    page.get_by_role("button", name="Add note").click()

    expect(page.get_by_role("heading", name="Your note was not saved")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("alert")).to_contain_text(
        "Tailspin Air carve-out was deleted by alice@acme.test", timeout=WAIT_MS
    )
    expect(page.locator("#kept-text")).to_have_value("Carve-out memo v2", timeout=WAIT_MS)
