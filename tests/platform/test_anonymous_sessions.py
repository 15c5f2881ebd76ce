"""Visitors who are not signed in cost the session store nothing: their session is a signed cookie.

``web.platform.session_store.anonymous``: the raw CSRF token (and flashed messages) travel in
the ``dealdesk_anon`` cookie, signed with the app's key; the sign-in stores the session and
deletes the cookie. On all four stacks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from flask import Flask, flash
from itsdangerous import URLSafeTimedSerializer

from tests.support.clients import ApiClient, form_token
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.stacks import SQLITE_SQL, StackSettings
from tests.support.state import stored_session, stored_session_count
from web.platform.session_store.anonymous import COOKIE_NAME, MAX_COOKIE_BYTES, SALT

VISITS = 1000
SESSION_COOKIE = "dealdesk_session"


def anonymous_cookie(client: ApiClient) -> str | None:
    cookie = client.client.get_cookie(COOKIE_NAME)
    return cookie.value if cookie else None


def sign(data: dict[str, object], key: str) -> str:
    """An anonymous cookie as an app with ``key`` would sign it (Flask's tagged JSON is plain JSON here)."""
    serializer = URLSafeTimedSerializer(
        key, salt=SALT, signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256}
    )
    return serializer.dumps(data)


def with_altered_signature(signed: str) -> str:
    """``signed`` with one character of its signature changed, always to a different one: the second to last,
    whose six bits all count (of the last, base64 uses only some, so replacing the tail with "AA" left about one
    signature in a thousand as it was, and the test then failed)."""
    replacement = "B" if signed[-2] == "A" else "A"
    return signed[:-2] + replacement + signed[-1]


def raw_token(signed_token: str) -> str:
    """The raw token inside Flask-WTF's signed one (its payload is readable, only the signature is secret)."""
    payload = signed_token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def visitors_app(app: Flask, demo: dict[str, int], stack_settings: StackSettings) -> Flask:
    """Failed sign-ins by the thousand from one address: a per-address limit that never bites."""
    return stack_settings.make_app(SIGNIN_LIMIT_PER_IP="100000 per 15 minutes")


def visit(app: Flask, number: int) -> None:
    """One new client's visit: a token, the sign-in page, a failed sign-in, or the home page."""
    visitor = ApiClient(app.test_client())
    kind = number % 4
    if kind == 0:
        assert visitor.get("/api/csrf").status_code == 200
    elif kind == 1:
        assert visitor.get("/login").status_code == 200
    elif kind == 2:
        wrong = {"email": f"nobody{number}@example.test", "password": "not-the-password"}
        response = visitor.post("/api/auth/login", json=wrong)
        assert response.status_code == 401, response.get_json()
    else:
        assert visitor.get("/").status_code == 302  # to the sign-in page


def test_a_thousand_visitors_leave_the_store_as_it_was(visitors_app):
    before = stored_session_count(visitors_app)
    started = time.perf_counter()
    for number in range(VISITS):
        visit(visitors_app, number)
    elapsed = time.perf_counter() - started
    assert stored_session_count(visitors_app) == before
    assert elapsed < 60, elapsed  # a generous ceiling; it takes a few seconds


def test_sign_in_with_the_token_of_the_anonymous_cookie(app, demo):
    visitor = ApiClient(app.test_client())
    token = visitor.csrf
    cookie = anonymous_cookie(visitor)
    assert cookie is not None and visitor.session_id() is None
    assert stored_session_count(app) == 0

    response = visitor.post("/api/auth/login", json={"email": "alice@acme.test", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert anonymous_cookie(visitor) is None  # deleted by the sign-in
    assert stored_session(app, visitor.session_id())["_user_id"] == str(demo["alice"])
    assert stored_session_count(app) == 1
    # The token of the anonymous session does not carry over (CSRF rotation at sign-in).
    refused = visitor.client.delete("/api/deals/current", headers={"X-CSRFToken": token})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"


def test_the_sign_in_form_works_from_the_anonymous_cookie(app, demo):
    visitor = ApiClient(app.test_client())
    token = form_token(visitor.get("/login").get_data(as_text=True))
    response = visitor.client.post(
        "/login", data={"csrf_token": token, "email": "alice@acme.test", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert visitor.get("/api/me").status_code == 200
    assert anonymous_cookie(visitor) is None


def test_a_failed_sign_in_keeps_the_token_for_the_next_try(app, demo):
    visitor = ApiClient(app.test_client())
    assert visitor.post("/api/auth/login", json={"email": "alice@acme.test", "password": "wrong"}).status_code == 401
    # The same token again (the client keeps it), as a browser retrying would send.
    response = visitor.post("/api/auth/login", json={"email": "alice@acme.test", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda data: sign(data, "not-the-apps-key"), id="signed-with-another-key"),
        pytest.param(lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).decode(), id="unsigned"),
        pytest.param(lambda data: with_altered_signature(sign(data, "test-secret-key")), id="altered-signature"),
    ],
)
def test_a_forged_anonymous_cookie_is_ignored(app, demo, forge):
    """A page elsewhere that knows a token (they are readable) still cannot make a cookie to match it."""
    known = ApiClient(app.test_client()).csrf
    forger = ApiClient(app.test_client())
    forger.client.set_cookie(COOKIE_NAME, forge({"csrf_token": raw_token(known)}))
    response = forger.client.post(
        "/api/auth/login",
        json={"email": "alice@acme.test", "password": DEFAULT_PASSWORD},
        headers={"X-CSRFToken": known},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert forger.session_id() is None


def test_a_cookie_holding_a_user_signs_no_one_in(app, demo):
    """Never written so; even signed with the app's own key it is ignored."""
    intruder = ApiClient(app.test_client())
    intruder.client.set_cookie(COOKIE_NAME, sign({"_user_id": str(demo["alice"])}, "test-secret-key"))
    assert intruder.get("/api/me").status_code == 401


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_the_cookie_is_httponly_lax_and_lives_as_long_as_a_session(app):
    response = app.test_client().get("/api/csrf")
    cookies = response.headers.getlist("Set-Cookie")
    assert not any(value.startswith(f"{SESSION_COOKIE}=") for value in cookies)  # no server-side session
    cookie = next(value for value in cookies if value.startswith(f"{COOKIE_NAME}="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert f"Max-Age={int(app.permanent_session_lifetime.total_seconds())}" in cookie
    assert "Secure" not in cookie  # APP_ENV=test serves plain http


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_the_cookie_is_secure_in_production(stack_settings, demo):
    production = stack_settings.make_app(APP_ENV="production", SESSION_COOKIE_SECURE=True)
    response = production.test_client().get("/api/csrf")
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_request_that_changes_nothing_sets_no_cookie(app):
    visitor = ApiClient(app.test_client())
    assert visitor.csrf
    again = visitor.client.get("/api/csrf")
    assert again.get_json()["csrf_token"]
    assert "Set-Cookie" not in again.headers


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_an_oversized_anonymous_session_keeps_only_its_token(app):
    def flash_a_lot():  # type: ignore[no-untyped-def]
        flash("x" * 2 * MAX_COOKIE_BYTES)
        return {"flashed": True}

    app.add_url_rule("/api/test/flash-a-lot", view_func=flash_a_lot)
    visitor = ApiClient(app.test_client())
    token = visitor.csrf
    response = visitor.client.get("/api/test/flash-a-lot")
    assert response.status_code == 200
    cookie = anonymous_cookie(visitor)
    assert cookie is not None and len(cookie) <= MAX_COOKIE_BYTES
    # The token survived the trim: a sign-in with it works.
    signed_in = visitor.client.post(
        "/api/auth/login",
        json={"email": "nobody@example.test", "password": "wrong"},
        headers={"X-CSRFToken": token},
    )
    assert signed_in.status_code == 401  # past the CSRF check: the credentials were looked at


def test_sign_out_leaves_an_empty_anonymous_session(app, demo):
    alice = ApiClient(app.test_client())
    before_sign_in = alice.csrf
    alice.login("alice@acme.test")
    assert alice.post("/api/auth/logout").status_code == 204
    assert alice.session_id() is None and anonymous_cookie(alice) is None
    after = alice.client.get("/api/csrf").get_json()["csrf_token"]
    assert raw_token(after) != raw_token(before_sign_in)
    assert stored_session_count(app) == 0


def test_sessionless_paths_and_the_fast_path_are_unaffected(app, demo):
    visitor = ApiClient(app.test_client())
    assert visitor.csrf
    for path in ("/api/health/session", "/metrics"):
        response = visitor.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    current = visitor.get("/api/deals/current")  # no session cookie: the fast path hands it to Flask
    assert current.status_code == 401
    assert stored_session_count(app) == 0


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_the_cookie_survives_a_key_rotation_with_the_old_key_as_fallback(stack_settings, demo):
    old = stack_settings.make_app(SECRET_KEY="old-secret-key-for-rotation-test")
    visitor = ApiClient(old.test_client())
    token = visitor.csrf
    cookie = anonymous_cookie(visitor)
    credentials = {"email": "alice@acme.test", "password": DEFAULT_PASSWORD}

    rotated = stack_settings.make_app(
        SECRET_KEY="new-secret-key-for-rotation-test", SECRET_KEY_FALLBACKS=["old-secret-key-for-rotation-test"]
    )
    after = ApiClient(rotated.test_client())
    after.client.set_cookie(COOKIE_NAME, cookie)
    response = after.client.post("/api/auth/login", json=credentials, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_json()

    without_fallback = ApiClient(stack_settings.make_app(SECRET_KEY="new-secret-key-for-rotation-test").test_client())
    without_fallback.client.set_cookie(COOKIE_NAME, cookie)
    refused = without_fallback.client.post("/api/auth/login", json=credentials, headers={"X-CSRFToken": token})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
