"""axe-core on every page at desktop (1280 px) and phone (390 px) width: no serious or critical violation.

Each page is checked as a signed-in admin sees it (the most controls), with a deal that has
members, notes and activity; the sign-in page and an error page signed out and in; and the
keyboard deal switcher (Ctrl+K) open.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.accessibility import Violation, axe_missing_reason, blocking_violations
from tests.support.browser import BrowserSession
from tests.support.demo_activity import prepare_demo_activity
from tests.support.stacks import IN_CI, SQLITE_SQL

pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(autouse=True)
def _axe_installed() -> None:
    reason = axe_missing_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the accessibility tests must run)")
        pytest.skip(reason)


def check(page: Page, path: str, found: list[Violation]) -> None:
    page.goto(path)
    expect(page.locator("main")).to_be_visible()
    found.extend(blocking_violations(page, f"{path} ({page.viewport_size['width']} px)"))


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_every_page_has_no_serious_or_critical_violation(app, demo, open_context, width):
    prepare_demo_activity(app, demo)
    browser: BrowserSession = open_context(bypass_csp=True, **VIEWPORTS[width])
    page = browser.new_page()
    found: list[Violation] = []

    check(page, "/login", found)
    check(page, "/no-such-page", found)
    browser.sign_in(page, "alice@acme.test")
    check(page, "/", found)  # no deal selected yet
    check(page, f"/deals/{demo['northwind']}", found)
    page.get_by_role("button", name="Make current").click()
    for path in [
        "/",
        "/deals",
        "/deals?stage=sourcing&sort=value&dir=desc",
        f"/deals/{demo['northwind']}",
        f"/deals/{demo['northwind']}/activity",
        f"/deals/{demo['northwind']}/delete",
        "/settings/sessions",
        "/admin/users",
        "/admin/audit",
        "/deals/999999",
    ]:
        check(page, path, found)
    # The keyboard switcher, open over a page.
    page.goto("/deals")
    page.keyboard.press("Control+K")
    expect(page.get_by_role("combobox", name="Switch to deal")).to_be_focused()
    found.extend(blocking_violations(page, f"the open switcher ({page.viewport_size['width']} px)"))

    assert not found, "axe found serious or critical violations:\n" + "\n".join(map(str, found))
