"""Browser fixtures: Debian's Chromium driven by Playwright, against the app served on loopback.

One browser per test module (launching is the slow part), a fresh browser
context (cookie jar) per test, and a live server per test on the test's own
app, so every test starts from the shared cast (the ``demo`` fixture). Playwright never downloads a
browser here: it drives ``/usr/bin/chromium`` (``scripts/install-chromium.sh``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.support.live_server import serve_in_thread
from tests.support.stacks import IN_CI

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")

# After the importorskip: without playwright the whole folder is skipped instead of failing to import.
from tests.support.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DEFAULT_TIMEOUT_MS,
    BrowserSession,
    LiveServer,
    chromium_missing_reason,
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[playwright_api.Browser]:
    """Headless Chromium for the whole module; closed when the module is done."""
    reason = chromium_missing_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the browser tests must run)")
        pytest.skip(reason)
    manager = playwright_api.sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        manager.stop()


@pytest.fixture
def live_server(app: Flask, demo: dict[str, int]) -> Iterator[LiveServer]:
    """The test's app on 127.0.0.1 at a free port, in a thread; stopped in ``finally``."""
    with serve_in_thread(app) as url:
        yield LiveServer(app=app, url=url)


@pytest.fixture
def open_context(chromium: playwright_api.Browser, live_server: LiveServer) -> Iterator[Callable[..., BrowserSession]]:
    """``open_context()`` is a new browser profile; all are closed after the test.

    The app sends a strict Content-Security-Policy (web/platform/security.py); any violation
    Chromium reports on the console fails the test.
    """
    opened: list[BrowserSession] = []

    def open_one(**options: object) -> BrowserSession:
        context = chromium.new_context(base_url=live_server.url, **options)  # type: ignore[arg-type]
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        session = BrowserSession(context=context, base_url=live_server.url)

        def watch(message: playwright_api.ConsoleMessage) -> None:
            if re.search(r"Content Security Policy|Refused to", message.text):
                session.csp_violations.append(message.text)

        context.on("console", watch)
        opened.append(session)
        return session

    try:
        yield open_one
    finally:
        for session in opened:
            session.context.close()
    violations = [text for session in opened for text in session.csp_violations]
    assert not violations, f"Content Security Policy violations: {violations}"


@pytest.fixture
def user_context(open_context: Callable[..., BrowserSession]) -> BrowserSession:
    return open_context()
