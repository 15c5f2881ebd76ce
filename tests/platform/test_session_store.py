"""The session store: its own transaction, no rewrite of unchanged sessions, expiry touches."""

from __future__ import annotations

from flask import current_app, session
from sqlalchemy import func, select

from tests.support.state import stored_session
from web.extensions import db
from web.identity.models import Organization
from web.platform.session_store.base import hash_session_id
from web.platform.session_store.models import SessionRecord


def _add_failing_view(app) -> None:
    def add_then_fail():  # type: ignore[no-untyped-def]
        session["marker"] = "written by a failing request"
        db.session.add(Organization(name="Ghost Holdings"))
        db.session.flush()
        raise RuntimeError("the view failed after adding a row")

    app.add_url_rule("/api/test/add-then-fail", view_func=add_then_fail, methods=["POST"])


def _ghosts(app) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Organization).where(Organization.name == "Ghost Holdings")
        )
        db.session.remove()
        return count


def test_failed_request_leaves_no_row_behind(app, browser, demo):
    _add_failing_view(app)
    api = browser()
    api.login("alice@acme.test")
    response = api.post("/api/test/add-then-fail")
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}
    assert _ghosts(app) == 0
    # The session itself still works afterwards.
    assert api.get("/api/me").status_code == 200


def test_unchanged_request_does_not_rewrite_the_session(app, api, demo):
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['northwind']}/select")
    before = stored_session(app, api.session_id())
    version_before = _row_version(app, api.session_id())
    response = api.get("/api/deals/current")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert stored_session(app, api.session_id()) == before
    assert _row_version(app, api.session_id()) == version_before


def _row_version(app, sid) -> int | None:
    if app.config["SESSION_BACKEND"] != "sqlalchemy":
        return None
    store_id = app.session_interface._get_store_id(sid)
    with app.app_context():
        version = db.session.scalar(select(SessionRecord.version).where(SessionRecord.session_id == store_id))
        db.session.remove()
        return version


def test_expiry_is_extended_once_the_touch_interval_has_passed(stack_settings, demo):
    app = stack_settings.make_app(SESSION_TOUCH_INTERVAL_SECONDS=0.001)
    client = app.test_client()
    token = client.get("/api/csrf").get_json()["csrf_token"]
    client.post(
        "/api/auth/login",
        json={"email": "bob@acme.test", "password": "demo-password"},
        headers={"X-CSRFToken": token},
    )
    response = client.get("/api/deals/current")
    assert "Set-Cookie" in response.headers  # the cookie's expiry moves with the store's
    assert "dealdesk_session=" in response.headers["Set-Cookie"]


def test_anonymous_requests_store_nothing(app, api):
    from tests.support.state import session_rows

    for _ in range(3):
        assert api.get("/api/deals").status_code == 401
    assert api.session_id() is None
    if app.config["SESSION_BACKEND"] == "sqlalchemy":
        assert session_rows(app) == 0


def test_corrupt_cookie_values_start_a_new_session(app, api, demo):
    for value in ("../../etc/passwd", "x" * 500, "a b", ""):
        api.client.set_cookie("dealdesk_session", value)
        assert api.get("/api/me").status_code == 401


def test_a_cleared_session_ends_as_flask_sessions_does(app, api, demo):
    """``session.clear()`` deletes the stored session and the cookie, as Flask-Session does (not an
    empty ``{"_permanent": true}`` left under the same id)."""

    def clear_the_session():  # type: ignore[no-untyped-def]
        session.clear()
        return {"cleared": True}

    app.add_url_rule("/api/test/clear-session", view_func=clear_the_session, methods=["POST"])
    api.login("alice@acme.test")
    sid = api.session_id()
    response = api.post("/api/test/clear-session")
    assert response.status_code == 200
    assert stored_session(app, sid) is None
    assert api.session_id() is None  # the cookie was removed
    api.client.set_cookie("dealdesk_session", sid)
    assert api.get("/api/me").status_code == 401


def test_a_cleared_session_stays_ended_when_another_request_wrote_to_it(app, api, demo):
    """Emptying wins over a concurrent write: the session ends, it is not merged back to life."""

    def write_meanwhile_then_clear():  # type: ignore[no-untyped-def]
        interface = current_app.session_interface
        sid_hash = hash_session_id(session.sid)  # type: ignore[attr-defined]
        assert interface.rewrite_session(sid_hash, lambda stored: {**stored, "written_meanwhile": 1})
        session.clear()
        return {"cleared": True}

    app.add_url_rule("/api/test/clear-after-a-write", view_func=write_meanwhile_then_clear, methods=["POST"])
    api.login("alice@acme.test")
    sid = api.session_id()
    assert api.post("/api/test/clear-after-a-write").status_code == 200
    assert stored_session(app, sid) is None
    assert api.session_id() is None
