"""Account management (/api/users), password change, and sign-in throttling."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from web.audit.models import AuditEvent
from web.extensions import db, limiter
from web.identity.accounts import password_problem

NEW_PASSWORD = "correct horse battery staple"


def actions(app, user_id: int) -> list[str]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.user_id == user_id)))
        db.session.remove()
    return rows


# --- /api/users -----------------------------------------------------------------------------------


def test_admin_lists_the_users_of_their_own_organization(browser, demo):
    alice = browser()
    alice.login("alice@acme.test")
    response = alice.get("/api/users")
    assert response.status_code == 200
    users = response.get_json()["users"]
    assert [u["email"] for u in users] == ["alice@acme.test", "bob@acme.test", "dave@acme.test"]
    assert set(users[0]) == {"id", "email", "role", "is_active", "created_at"}


def test_members_may_not_list_or_change_users(browser, demo):
    bob = browser()
    bob.login("bob@acme.test")
    assert bob.get("/api/users").status_code == 403
    response = bob.patch(f"/api/users/{demo['dave']}", json={"role": "admin"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_users_api_needs_sign_in(api, demo):
    assert api.get("/api/users").status_code == 401
    assert api.patch(f"/api/users/{demo['bob']}", json={"role": "admin"}).status_code == 401
    assert api.post("/api/auth/password", json={}).status_code == 401


def test_another_organizations_user_is_not_found(browser, demo):
    alice = browser()
    alice.login("alice@acme.test")
    response = alice.patch(f"/api/users/{demo['carol']}", json={"is_active": False})
    assert response.status_code == 404
    assert alice.patch("/api/users/999999", json={"is_active": False}).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"role": "owner"}, "role"),
        ({"role": None}, "role"),
        ({"is_active": "no"}, "is_active"),
        ({"email": "x@acme.test"}, "email"),
        ({}, "body"),
    ],
)
@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_invalid_changes_are_422(browser, demo, body, field):
    alice = browser()
    alice.login("alice@acme.test")
    response = alice.patch(f"/api/users/{demo['bob']}", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_an_admin_cannot_demote_or_deactivate_themselves(browser, demo):
    alice = browser()
    alice.login("alice@acme.test")
    for body in ({"role": "member"}, {"is_active": False}):
        response = alice.patch(f"/api/users/{demo['alice']}", json=body)
        assert response.status_code == 409
    assert alice.patch(f"/api/users/{demo['alice']}", json={"role": "admin"}).status_code == 200


def test_role_change_and_reactivation_are_audited_and_shown(browser, app, demo):
    alice = browser()
    alice.login("alice@acme.test")
    response = alice.patch(f"/api/users/{demo['dave']}", json={"role": "admin", "is_active": False})
    assert response.status_code == 200
    assert response.get_json()["role"] == "admin" and response.get_json()["is_active"] is False
    assert alice.patch(f"/api/users/{demo['dave']}", json={"is_active": True}).status_code == 200
    browser().login("dave@acme.test")
    assert actions(app, demo["alice"]).count("user.role_change") == 1
    assert {"user.deactivate", "user.activate"} <= set(actions(app, demo["alice"]))


# --- POST /api/auth/password ------------------------------------------------------------------------


def test_wrong_current_password_is_invalid_credentials(browser, demo):
    bob = browser()
    bob.login("bob@acme.test")
    response = bob.post("/api/auth/password", json={"current_password": "nope", "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("weak", ["short", "aaaaaaaaaaaaaaaa", "bob-is-my-name-2024", "demo-password"])
@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_weak_new_password_is_422(browser, demo, weak):
    bob = browser()
    bob.login("bob@acme.test")
    response = bob.post("/api/auth/password", json={"current_password": "demo-password", "new_password": weak})
    assert response.status_code == 422
    assert "new_password" in response.get_json()["error"]["fields"]


def test_password_change_is_audited_and_the_current_session_stays(browser, app, demo):
    bob = browser()
    bob.login("bob@acme.test")
    response = bob.post("/api/auth/password", json={"current_password": "demo-password", "new_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert response.get_json() == {"revoked": 0}
    assert bob.get("/api/me").status_code == 200
    assert "auth.password_change" in actions(app, demo["bob"])


def test_password_strength_rule():
    email = "bob@acme.test"
    assert password_problem("correct horse battery staple", email=email) is None
    assert password_problem("x" * 11, email=email) is not None
    assert password_problem("abababababababab", email=email) is not None  # too few distinct characters
    assert password_problem("Password1234", email=email) is not None  # common
    assert password_problem("bob@acme.test", email=email) is not None
    assert password_problem("x" * 1025, email=email) is not None


# --- Sign-in throttling ------------------------------------------------------------------------------


def attempt(client, email: str, password: str = "wrong password", ip: str = "127.0.0.1"):
    return client.post("/api/auth/login", json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def throttled(stack_settings, app, demo):
    """An app with small sign-in limits (on the same stores as ``app``)."""
    return stack_settings.make_app(SIGNIN_LIMIT_PER_ACCOUNT="3 per minute", SIGNIN_LIMIT_PER_IP="5 per minute")


def test_failed_sign_ins_per_account_are_throttled_with_retry_after(throttled, browser):
    client = browser(throttled)
    for _ in range(3):
        assert attempt(client, "bob@acme.test").status_code == 401
    response = attempt(client, "BOB@acme.test", "demo-password")  # the right password, too late
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert attempt(client, "dave@acme.test", "demo-password").status_code == 200


def test_failed_sign_ins_per_address_are_throttled(throttled, browser):
    client = browser(throttled)
    for n in range(5):
        assert attempt(client, f"nobody{n}@acme.test", ip="10.9.8.7").status_code == 401
    assert attempt(client, "dave@acme.test", "demo-password", ip="10.9.8.7").status_code == 429
    assert attempt(client, "dave@acme.test", "demo-password", ip="10.9.8.6").status_code == 200


def test_successful_sign_ins_do_not_count(throttled, browser):
    client = browser(throttled)
    for _ in range(6):
        assert attempt(client, "bob@acme.test", "demo-password").status_code == 200
        client._csrf = None  # each sign-in gives the session a new token


def test_the_html_sign_in_form_is_throttled_too(throttled, browser):
    client = browser(throttled)
    form = {"email": "bob@acme.test", "password": "wrong password", "csrf_token": client.csrf}
    statuses = [client.client.post("/login", data=form).status_code for _ in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
def test_throttle_counters_live_where_the_sessions_do(throttled, browser, stack):
    assert attempt(browser(throttled), "bob@acme.test").status_code == 401
    expected = "RedisStorage" if stack.sessions == "redis" else "MemoryStorage"
    assert type(limiter.storage).__name__ == expected


def form_attempt(client, email: str, password: str = "wrong password", ip: str = "127.0.0.1"):
    form = {"email": email, "password": password, "csrf_token": client.csrf}
    return client.client.post("/login", data=form, environ_base={"REMOTE_ADDR": ip})


def test_the_api_and_the_form_share_one_counter_per_account(throttled, browser):
    client = browser(throttled)
    assert [attempt(client, "bob@acme.test").status_code for _ in range(2)] == [401, 401]
    assert form_attempt(client, "bob@acme.test").status_code == 401
    assert attempt(client, "bob@acme.test", "demo-password").status_code == 429
    assert form_attempt(client, "bob@acme.test", "demo-password").status_code == 429


def test_the_api_and_the_form_share_one_counter_per_address(throttled, browser):
    client = browser(throttled)
    for n in range(3):
        assert attempt(client, f"nobody{n}@acme.test", ip="10.9.8.7").status_code == 401
    for n in range(3, 5):
        assert form_attempt(client, f"nobody{n}@acme.test", ip="10.9.8.7").status_code == 401
    assert attempt(client, "dave@acme.test", "demo-password", ip="10.9.8.7").status_code == 429
    assert form_attempt(client, "dave@acme.test", "demo-password", ip="10.9.8.7").status_code == 429


def change_password(client, current: str, new: str = NEW_PASSWORD):
    return client.post("/api/auth/password", json={"current_password": current, "new_password": new})


def test_wrong_current_passwords_are_throttled_per_account(throttled, browser):
    bob = browser(throttled)
    bob.login("bob@acme.test")
    assert change_password(bob, "demo-password", new="short").status_code == 422  # a weak new one is no guess
    assert [change_password(bob, "wrong password").status_code for _ in range(3)] == [400, 400, 400]
    response = change_password(bob, "demo-password")  # the right one, too late
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    # The same counter as sign-in: the guesses used up the account's failures there too.
    assert attempt(browser(throttled), "bob@acme.test", "demo-password").status_code == 429
    assert attempt(browser(throttled), "dave@acme.test", "demo-password").status_code == 200
