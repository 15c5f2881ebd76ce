"""/settings/sessions tells devices apart, marks this one, and shows when each was last active."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.support.clients import ApiClient
from tests.support.factories import Factories
from tests.support.stacks import ALL_STACKS, ONE_STACK
from tests.support.state import age_session
from web.extensions import db
from web.identity.models import UserSession
from web.platform.session_store.base import hash_session_id

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.7390.54 Safari/537.36"
)
SESSION_ITEM = re.compile(r'<li class="session[^"]*" data-session-id="([^"]+)">(.*?)</li>', re.S)
LONG_AGO = timedelta(days=2)


def device(browser: Callable[..., ApiClient], email: str, *, user_agent: str, ip: str) -> ApiClient:
    """A browser signed in as ``email`` from this user agent and address."""
    client = browser()
    client.client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": ip})
    client.login(email)
    return client


def listed(page: str) -> dict[str, str]:
    """Each listed session's text (tags stripped), by public id, in page order."""
    return {
        public_id: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)) for public_id, body in SESSION_ITEM.findall(page)
    }


def row_of(app: Flask, client: ApiClient) -> UserSession:
    with app.app_context():
        row = db.session.scalar(select(UserSession).where(UserSession.sid_hash == hash_session_id(client.session_id())))
        db.session.expunge(row)
        db.session.remove()
        return row


def backdate_last_seen(app: Flask, client: ApiClient) -> None:
    with app.app_context():
        row = db.session.scalar(select(UserSession).where(UserSession.sid_hash == hash_session_id(client.session_id())))
        row.last_seen_at -= LONG_AGO
        row.created_at -= LONG_AGO
        db.session.commit()
        db.session.remove()


@ONE_STACK
def test_devices_are_told_apart_by_browser_system_and_address(browser, make: Factories) -> None:
    user = make.user()
    laptop = device(browser, user.email, user_agent=FIREFOX_WINDOWS, ip="203.0.113.7")
    device(browser, user.email, user_agent=SAFARI_IPHONE, ip="198.51.100.23")
    device(browser, user.email, user_agent=HEADLESS_CHROME, ip="192.0.2.1")
    device(browser, user.email, user_agent=HEADLESS_CHROME, ip="192.0.2.1")
    rows = list(listed(laptop.get("/settings/sessions").text).values())
    assert len(rows) == 4
    assert "Firefox 128.0 on Windows 10 This device" in rows[0]
    assert "IP address 203.0.113.7" in rows[0]
    assert any("Mobile Safari 17.4 on iOS 17.4 · iPhone" in row and "198.51.100.23" in row for row in rows)
    chromes = [row for row in rows if "HeadlessChrome 156.0.7390 on Linux" in row]
    assert len(chromes) == 2
    # Same browser, same machine: the session reference still tells them apart.
    references = [re.search(r"Session (\S+)", row).group(1) for row in chromes]
    assert references[0] != references[1]


@ONE_STACK
def test_only_this_device_is_marked_and_listed_first(browser, make: Factories) -> None:
    user = make.user()
    first = device(browser, user.email, user_agent=FIREFOX_WINDOWS, ip="203.0.113.7")
    second = device(browser, user.email, user_agent=SAFARI_IPHONE, ip="198.51.100.23")
    for client, agent in ((first, "Firefox"), (second, "Safari")):
        rows = list(listed(client.get("/settings/sessions").text).values())
        assert [("This device" in row) for row in rows] == [True, False]
        assert agent in rows[0]


@pytest.mark.parametrize("stack", ALL_STACKS, indirect=True)
def test_last_active_is_now_for_this_device_and_moves_for_the_others(
    browser, app: Flask, make: Factories, count_queries
) -> None:
    """This device's request is its activity: "Now", not the sign-in time. Another device's moves when its
    session's lifetime is extended (at most once per touch interval): with no app statement of its own."""
    user = make.user()
    laptop = device(browser, user.email, user_agent=FIREFOX_WINDOWS, ip="203.0.113.7")
    phone = device(browser, user.email, user_agent=SAFARI_IPHONE, ip="198.51.100.23")
    backdate_last_seen(app, laptop)
    backdate_last_seen(app, phone)
    phone_id = row_of(app, phone).public_id
    page = laptop.get("/settings/sessions").text
    this_device, phone_row = list(listed(page).values())
    assert "Last active Now" in this_device
    before = row_of(app, phone).last_seen_at
    assert f"Last active {before:%Y-%m-%d %H:%M} UTC" in phone_row

    age_session(app, phone.session_id(), app.config["SESSION_TOUCH_INTERVAL_SECONDS"] + 5)
    with count_queries() as log:
        assert phone.get("/api/csrf").status_code == 200
    assert log.app_statements == []
    after = row_of(app, phone).last_seen_at
    assert after - before > LONG_AGO - timedelta(minutes=1)
    assert f"Last active {after:%Y-%m-%d %H:%M} UTC" in listed(laptop.get("/settings/sessions").text)[phone_id]
