"""Rotating SECRET_KEY with SECRET_KEY_FALLBACKS keeps browsers signed in and their CSRF tokens valid."""

from __future__ import annotations

import re

import pytest

from tests.support.clients import ApiClient, signed_in
from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from web.config import build_config, csrf_signing_keys

OLD_KEY = "old-secret-key-for-rotation-test"
NEW_KEY = "new-secret-key-for-rotation-test"
COOKIE = "dealdesk_session"


def same_browser_on(app, browser: ApiClient) -> ApiClient:
    """The same browser (its session cookie and its cached CSRF token) talking to another server."""
    moved = ApiClient(app.test_client())
    moved.client.set_cookie(COOKIE, browser.session_id(), domain="localhost")
    moved._csrf = browser.csrf
    return moved


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
def test_rotation_keeps_sessions_and_csrf_tokens(stack_settings, app, demo, browser):
    alice = signed_in(browser, "alice@acme.test", on=stack_settings.make_app(SECRET_KEY=OLD_KEY))
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200

    rotated = stack_settings.make_app(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[OLD_KEY])
    after = same_browser_on(rotated, alice)
    assert after.get("/api/me").get_json()["user"]["email"] == "alice@acme.test"
    assert after.current_deal_id() == demo["northwind"]
    # The token signed with the old key is still accepted for changes.
    assert after.post(f"/api/deals/{demo['contoso']}/select").status_code == 200
    assert after.current_deal_id() == demo["contoso"]

    # New tokens are signed with the new key: the old server no longer accepts them.
    new_token = after.client.get("/api/csrf").get_json()["csrf_token"]
    assert new_token != alice.csrf
    refused = alice.client.delete("/api/deals/current", headers={"X-CSRFToken": new_token})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_rotation_without_fallback_rejects_old_tokens_but_keeps_the_session(stack_settings, app, demo, browser):
    alice = signed_in(browser, "alice@acme.test", on=stack_settings.make_app(SECRET_KEY=OLD_KEY))

    after = same_browser_on(stack_settings.make_app(SECRET_KEY=NEW_KEY), alice)
    assert after.get("/api/me").status_code == 200  # the session id is not signed with the key
    response = after.post(f"/api/deals/{demo['northwind']}/select")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_page_form_token_survives_rotation(stack_settings, app, demo, browser):
    alice = signed_in(browser, "alice@acme.test", on=stack_settings.make_app(SECRET_KEY=OLD_KEY))
    page = alice.get("/").get_data(as_text=True)
    token = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    rotated = stack_settings.make_app(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[OLD_KEY])
    after = same_browser_on(rotated, alice)
    response = after.post(f"/api/deals/{demo['northwind']}/select", headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert after.current_deal_id() == demo["northwind"]


def test_fallbacks_come_from_the_environment_most_recent_first():
    config = build_config(env={"SECRET_KEY": "k3", "SECRET_KEY_FALLBACKS": "k2, k1"})
    assert config["SECRET_KEY_FALLBACKS"] == ["k2", "k1"]
    # itsdangerous wants oldest first and signs with the last key.
    assert csrf_signing_keys(config) == ["k1", "k2", "k3"]
    assert csrf_signing_keys(build_config(env={"SECRET_KEY": "k3"})) is None


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_rolling_rotation_new_key_announced_first_then_swapped(stack_settings, app, demo, browser):
    """Step 1 of docs/DEPLOYMENT.md: every instance first accepts the new key, so an instance
    already swapped (step 2) and one not yet swapped accept each other's tokens."""
    announced = stack_settings.make_app(SECRET_KEY=OLD_KEY, SECRET_KEY_FALLBACKS=[NEW_KEY])
    swapped = stack_settings.make_app(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[OLD_KEY])
    alice = signed_in(browser, "alice@acme.test", on=swapped)  # its token is signed with the new key
    on_announced = same_browser_on(announced, alice)
    assert on_announced.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    old_token_browser = signed_in(browser, "bob@acme.test", on=announced)  # signed with the old key
    on_swapped = same_browser_on(swapped, old_token_browser)
    assert on_swapped.post(f"/api/deals/{demo['tailspin']}/select").status_code == 200
