"""Sign-in, sign-out, the current user, cookies and CSRF."""

from __future__ import annotations

import pytest

from tests.support.clients import form_token
from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from tests.support.state import stored_session


def test_login_returns_user_and_no_deal(api, demo):
    body = api.login("alice@acme.test").get_json()
    assert body == {
        "user": {
            "id": demo["alice"],
            "email": "alice@acme.test",
            "role": "admin",
            "organization": {"id": demo["acme"], "name": "Acme Capital"},
        },
        "current_deal": None,
    }


def test_email_is_case_insensitive(api, demo):
    assert api.login("Alice@ACME.test").get_json()["user"]["id"] == demo["alice"]


@pytest.mark.parametrize(
    "email,password",
    [("alice@acme.test", "wrong-password"), ("nobody@acme.test", "demo-password"), ("alice@acme.test", "")],
)
def test_bad_credentials_get_one_answer(api, demo, email, password):
    response = api.post("/api/auth/login", json={"email": email, "password": password})
    if password == "":
        assert response.status_code == 422
        return
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {"code": "invalid_credentials", "message": "The email or password is incorrect."}
    }


def test_session_holds_only_plain_values(api, app, demo):
    api.login("alice@acme.test")
    data = stored_session(app, api.session_id())
    for key, value in data.items():
        if key == "deal_ctx":
            assert set(value) == {"deal_id", "version"}
            continue
        assert isinstance(value, (str, int, bool)), (key, value)
    assert data["_user_id"] == str(demo["alice"])
    assert data["org_name"] == "Acme Capital"


def test_sign_in_issues_a_new_session_id(api, app, demo):
    assert api.csrf  # a visitor's session is a signed cookie: no session id before sign-in
    assert api.session_id() is None
    api.login("alice@acme.test")
    signed_in_sid = api.session_id()
    assert signed_in_sid is not None
    assert stored_session(app, signed_in_sid)["_user_id"] == str(demo["alice"])


def test_fixated_session_id_is_useless_after_sign_in(browser, app, demo):
    planted = "attacker-chosen-session-id"
    victim = browser()
    victim.client.set_cookie("dealdesk_session", planted)
    victim.login("alice@acme.test")
    assert victim.session_id() != planted
    # The attacker's cookie never became a signed-in session.
    attacker = browser()
    attacker.client.set_cookie("dealdesk_session", planted)
    assert attacker.get("/api/me").status_code == 401


def test_logout_destroys_the_server_side_session(api, app, demo):
    api.login("alice@acme.test")
    sid = api.session_id()
    assert api.post("/api/auth/logout").status_code == 204
    assert stored_session(app, sid) is None
    assert api.session_id() is None
    # Replaying the old cookie does not sign anyone in.
    api.client.set_cookie("dealdesk_session", sid)
    assert api.get("/api/me").status_code == 401


def test_me_requires_sign_in(api, demo):
    response = api.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
def test_session_cookie_flags(api, demo):
    response = api.login("alice@acme.test")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie
    assert "Secure" not in cookie  # APP_ENV=test serves plain http


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_production_cookies_are_secure(stack_settings, demo):
    production = stack_settings.make_app(APP_ENV="production", SESSION_COOKIE_SECURE=True)
    client = production.test_client()
    response = client.get("/api/csrf")
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
@pytest.mark.parametrize(
    "method,path", [("POST", "/api/auth/login"), ("POST", "/api/deals"), ("DELETE", "/api/deals/current")]
)
def test_changes_without_csrf_token_are_rejected(api, demo, method, path):
    api.login("alice@acme.test")
    missing = api.client.open(path, method=method, json={})
    wrong = api.client.open(path, method=method, json={}, headers={"X-CSRFToken": "not-the-token"})
    for response in (missing, wrong):
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_csrf_token_of_another_session_is_rejected(browser, demo):
    first, second = browser(), browser()
    first.login("alice@acme.test")
    second.login("bob@acme.test")
    response = second.client.post(f"/api/deals/{demo['tailspin']}/select", headers={"X-CSRFToken": first.csrf})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_csrf_token_from_before_sign_in_is_refused_after_it(api, demo):
    planted = api.client.get("/api/csrf").get_json()["csrf_token"]
    signed_in = api.client.post(
        "/api/auth/login",
        json={"email": "alice@acme.test", "password": "demo-password"},
        headers={"X-CSRFToken": planted},
    )
    assert signed_in.status_code == 200
    select = f"/api/deals/{demo['northwind']}/select"
    refused = api.client.post(select, headers={"X-CSRFToken": planted})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    fresh = api.client.get("/api/csrf").get_json()["csrf_token"]
    assert fresh != planted
    assert api.client.post(select, headers={"X-CSRFToken": fresh}).status_code == 200


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_the_page_after_the_sign_in_form_carries_a_new_token(api, demo):
    planted = form_token(api.client.get("/login").get_data(as_text=True))
    form = {"email": "alice@acme.test", "password": "demo-password", "csrf_token": planted}
    assert api.client.post("/login", data=form).status_code == 302
    fresh = form_token(api.client.get("/").get_data(as_text=True))
    assert fresh != planted
    logout = {"csrf_token": planted}
    assert api.client.post("/logout", data=logout).status_code == 400
    assert api.get("/api/me").status_code == 200, "the planted token signed nobody out"
    assert api.client.post("/logout", data={"csrf_token": fresh}).status_code == 302
    assert api.get("/api/me").status_code == 401
