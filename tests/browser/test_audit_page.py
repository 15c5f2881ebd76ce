"""The audit page and a deal's activity feed on a phone (390 px): nothing scrolls sideways, the pickers filter,
"Show older" works without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import BrowserSession, LiveServer
from tests.support.factories import Factories
from tests.support.stacks import SQLITE_SQL
from web.audit.models import AuditEvent
from web.audit.read_models import ACTIVITY_PAGE_SIZE
from web.deals.models import Deal
from web.extensions import db

pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)

PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000
LONG_EMAIL = "a.very.long.address.for.an.analyst.who.joined.recently@acme-capital-partners.test"
LONG_DEAL = "Northwind Logistics buyout with an exceptionally long working name nobody abbreviates"

# Whether the page is wider than the screen, what in its main content reaches past the right edge, and any
# element anywhere whose own content scrolls sideways.
SIDEWAYS = """() => {
  const wide = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) wide.push('page ' + root.scrollWidth + '>' + window.innerWidth);
  const main = document.querySelector('main');
  if (main.scrollWidth > main.clientWidth) wide.push('main ' + main.scrollWidth + '>' + main.clientWidth);
  for (const el of main.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 1) wide.push('beyond the screen: ' + el.tagName + '.' + el.className);
  }
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      wide.push('scrolls: ' + el.tagName + '.' + el.className + ' ' + el.scrollWidth + '>' + el.clientWidth);
    }
  }
  return wide;
}"""


def seed_long_names(live_server: LiveServer, make: Factories, demo: dict[str, int]) -> int:
    """A user and a deal with long names, each in a few Acme events; returns the user's id."""
    analyst = make.user(demo["acme"], email=LONG_EMAIL)
    with live_server.app.app_context():
        deal = db.session.get(Deal, demo["northwind"])
        assert deal is not None
        deal.name = LONG_DEAL
        for action, details in [
            ("deal.member_add", {"member_user_id": analyst.id, "role": "editor"}),
            ("deal.update", {"changes": {"stage": {"from": "diligence", "to": "negotiation"}}}),
            ("deal.note_add", {}),
        ]:
            db.session.add(
                AuditEvent(
                    organization_id=demo["acme"],
                    user_id=analyst.id,
                    deal_id=demo["northwind"],
                    action=action,
                    ip="2001:db8:85a3:1234:5678:8a2e:370:7334",
                    details=details,
                )
            )
        db.session.commit()
        db.session.remove()
    return analyst.id


def assert_nothing_scrolls_sideways(page: Page) -> None:
    wide = page.evaluate(SIDEWAYS)
    assert wide == [], "; ".join(wide)


def test_audit_page_on_a_phone_fits_and_its_pickers_filter(
    open_context, live_server: LiveServer, make: Factories, demo: dict[str, int]
):
    seed_long_names(live_server, make, demo)
    session: BrowserSession = open_context(viewport=PHONE)
    page = session.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    session.sign_in(page, "alice@acme.test")
    page.goto(f"{live_server.url}/admin/audit")
    expect(page.locator("td.audit-what", has_text=f"{LONG_EMAIL} added a note to {LONG_DEAL}")).to_have_count(
        1, timeout=TIMEOUT_MS
    )
    assert_nothing_scrolls_sideways(page)
    # The region is named and reachable from the keyboard (axe: scrollable-region-focusable).
    expect(page.get_by_role("region", name="Audit events")).to_have_attribute("tabindex", "0", timeout=TIMEOUT_MS)

    page.get_by_label("Done by").select_option(label="bob@acme.test")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("td.audit-what")).to_have_count(0, timeout=TIMEOUT_MS)  # bob has not done anything
    page.get_by_label("Done by").select_option(label=LONG_EMAIL)
    page.get_by_label("What happened").select_option(label="Edited a deal")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("td.audit-what")).to_have_text(
        [f"{LONG_EMAIL} moved {LONG_DEAL} from Diligence to Negotiation"], timeout=TIMEOUT_MS
    )
    assert_nothing_scrolls_sideways(page)


def test_deal_activity_on_a_phone_pages_without_javascript(
    open_context, live_server: LiveServer, make: Factories, demo: dict[str, int]
):
    seed_long_names(live_server, make, demo)
    session: BrowserSession = open_context(viewport=PHONE, java_script_enabled=False)
    page = session.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    session.sign_in(page, "alice@acme.test")
    page.goto(f"{live_server.url}/deals/{demo['northwind']}")
    for number in range(ACTIVITY_PAGE_SIZE):
        page.get_by_label("New note").fill(f"Note {number}")
        page.get_by_role("button", name="Add note").click()
    feed = page.locator("#activity .activity-item")
    expect(feed).to_have_count(ACTIVITY_PAGE_SIZE, timeout=TIMEOUT_MS)
    expect(feed.first).to_contain_text(f"alice@acme.test added a note to {LONG_DEAL}", timeout=TIMEOUT_MS)
    assert_nothing_scrolls_sideways(page)
    page.get_by_role("link", name="Show older activity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Activity on {LONG_DEAL}", timeout=TIMEOUT_MS)
    expect(page.locator("#activity .activity-item").last).to_contain_text(
        f"{LONG_EMAIL} added {LONG_EMAIL} to {LONG_DEAL} as editor", timeout=TIMEOUT_MS
    )
    assert_nothing_scrolls_sideways(page)
