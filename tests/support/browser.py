"""The browser tests' pieces: Debian's Chromium and its options, the live server, a signed-in browser profile."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from flask import Flask
from playwright import sync_api as playwright_api

from tests.support.factories import DEFAULT_PASSWORD
from tests.support.stacks import SQLITE_REDIS, SQLITE_SQL

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: CI shares two cores with PostgreSQL, Redis and the other test worker. A passing
# step never waits for these; only a failing one does.
DEFAULT_TIMEOUT_MS = 15_000
playwright_api.expect.set_options(timeout=DEFAULT_TIMEOUT_MS)

# Session-related browser tests run on both session stores; page-only tests on one.
SESSION_STACKS = [SQLITE_SQL, SQLITE_REDIS]

Page = playwright_api.Page
BrowserContext = playwright_api.BrowserContext


def chromium_missing_reason() -> str | None:
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not found: run scripts/install-chromium.sh (make test does when CI=true)"
    return None


@dataclass
class LiveServer:
    app: Flask
    url: str


@dataclass
class BrowserSession:
    """A browser context (its own cookies) with a helper to sign in, and what its console said."""

    context: BrowserContext
    base_url: str
    csp_violations: list[str] = field(default_factory=list)

    def new_page(self) -> Page:
        return self.context.new_page()

    def sign_in(self, page: Page, email: str, *, next_path: str = "") -> None:
        page.goto(f"{self.base_url}/login{next_path and '?next=' + next_path}")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
