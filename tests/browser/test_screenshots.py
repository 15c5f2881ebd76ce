"""Every main page at desktop and phone width: it renders, nothing overflows sideways, and a screenshot.

The screenshots go to pytest's temporary directory; with ``UPDATE_SCREENSHOTS=1``
they replace the ones in docs/img that README.md shows:

    UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import BrowserSession
from tests.support.demo_activity import prepare_demo_activity
from tests.support.stacks import SQLITE_SQL

pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Mobile/15E148 Safari/604.1"
)


def screenshot_dir(tmp_path: Path) -> Path:
    return DOCS_IMG if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


def assert_fits(page: Page, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the viewport"


def capture(page: Page, directory: Path, name: str, width: str) -> None:
    expect(page.locator("main")).to_be_visible()
    assert_fits(page, name)
    page.screenshot(path=str(directory / f"{name}-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_main_pages_render_at_desktop_and_phone_width(app, demo, open_context, tmp_path, width):
    prepare_demo_activity(app, demo)
    directory = screenshot_dir(tmp_path)
    other_device: BrowserSession = open_context(user_agent=PHONE_UA if width == "desktop" else DESKTOP_UA)
    other_device.sign_in(other_device.new_page(), "alice@acme.test")
    browser: BrowserSession = open_context(
        user_agent=DESKTOP_UA if width == "desktop" else PHONE_UA, **VIEWPORTS[width]
    )
    page = browser.new_page()

    page.goto("/login")
    capture(page, directory, "login", width)
    browser.sign_in(page, "alice@acme.test")
    capture(page, directory, "home-no-deal", width)

    # Home's recent deals: the same button at both widths (on a phone the header's list gives way to the type-ahead).
    page.get_by_role("button", name="Select Northwind Logistics buyout").click()
    expect(page.locator("h1.current-deal")).to_have_text("Northwind Logistics buyout")
    capture(page, directory, "home", width)

    page.goto("/deals")
    capture(page, directory, "deals", width)
    page.goto(f"/deals/{demo['northwind']}")
    capture(page, directory, "deal", width)
    page.goto("/settings/sessions")
    expect(page.locator(".session")).to_have_count(2)
    capture(page, directory, "sessions", width)
    page.goto("/admin/users")
    capture(page, directory, "admin-users", width)
    page.goto("/deals/999999")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    capture(page, directory, "error-404", width)
