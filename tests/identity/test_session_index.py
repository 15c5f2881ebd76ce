"""The per-user session index and the /api/sessions API."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from tests.support.state import age_session, expire_session, index_rows, stored_session
from web.extensions import db
from web.identity import session_index, session_sync
from web.identity.models import User, UserSession
from web.platform.client import ClientInfo
from web.platform.models import utcnow
from web.platform.session_store.base import hash_session_id
from web.platform.session_store.models import SessionRecord

LONG_AGO = timedelta(days=2)


def sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def backdate_last_seen(app: Flask, sid: str) -> None:
    with app.app_context():
        row = db.session.scalar(select(UserSession).where(UserSession.sid_hash == sid_hash(sid)))
        row.last_seen_at -= LONG_AGO
        db.session.commit()
        db.session.remove()


def test_sign_in_indexes_the_session_by_hash_with_a_public_id(browser, app, make):
    bob_user = make.user()
    api = browser()
    api.login(bob_user.email)
    sid = api.session_id()
    [row] = index_rows(app, bob_user.id)
    assert row.sid_hash == sid_hash(sid)
    assert row.public_id != sid and sid not in row.public_id and len(row.public_id) >= 20
    assert row.ip == "127.0.0.1"
    assert row.user_agent and row.user_agent.startswith("Werkzeug/")
    assert row.created_at == row.last_seen_at
    assert row.expires_at > utcnow() + timedelta(hours=23)


def test_the_store_never_holds_the_raw_session_id(browser, app, make):
    bob_user = make.user()
    api = browser()
    api.login(bob_user.email)
    sid = api.session_id()
    client = app.extensions.get("dealdesk_redis")
    if client is not None:
        keys = [key.decode() for key in client.scan_iter(match=f"{app.config['SESSION_KEY_PREFIX']}*")]
    else:
        with app.app_context():
            keys = list(db.session.scalars(select(SessionRecord.session_id)))
            db.session.remove()
    assert any(key.endswith(sid_hash(sid)) for key in keys)
    assert not any(sid in key for key in keys)


def test_list_shows_only_my_sessions_and_marks_the_current_one(browser, app, make):
    bob_user = make.user()
    dave_user = make.user(bob_user.organization_id)
    laptop, phone, other = browser(), browser(), browser()
    laptop.login(bob_user.email)
    phone.login(bob_user.email)
    other.login(dave_user.email)
    response = laptop.get("/api/sessions")
    assert response.status_code == 200
    sessions = response.get_json()["sessions"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    current = next(s for s in sessions if s["current"])
    assert set(current) == {"id", "created_at", "last_seen_at", "ip", "user_agent", "current"}
    mine = {row.public_id for row in index_rows(app, bob_user.id)}
    assert {s["id"] for s in sessions} == mine
    phone_view = {s["id"]: s["current"] for s in phone.get("/api/sessions").get_json()["sessions"]}
    assert phone_view[current["id"]] is False


def test_sessions_api_needs_sign_in(api, make):
    assert api.get("/api/sessions").status_code == 401
    assert api.post("/api/sessions/revoke-others").status_code == 401


def test_revoking_a_session_signs_that_browser_out_on_its_next_request(browser, app, make):
    bob_user = make.user()
    laptop, phone = browser(), browser()
    laptop.login(bob_user.email)
    phone.login(bob_user.email)
    phone_sid = phone.session_id()
    [phone_row] = [row for row in index_rows(app, bob_user.id) if row.sid_hash == sid_hash(phone_sid)]
    assert laptop.delete(f"/api/sessions/{phone_row.public_id}").status_code == 204
    assert phone.get("/api/me").status_code == 401
    assert stored_session(app, phone_sid) is None
    assert laptop.get("/api/me").status_code == 200
    assert [row.sid_hash for row in index_rows(app, bob_user.id)] == [sid_hash(laptop.session_id())]


def test_another_users_session_is_not_found(browser, app, make):
    bob_user = make.user()
    dave_user = make.user(bob_user.organization_id)
    bob, dave = browser(), browser()
    bob.login(bob_user.email)
    dave.login(dave_user.email)
    [dave_row] = index_rows(app, dave_user.id)
    response = bob.delete(f"/api/sessions/{dave_row.public_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert bob.delete("/api/sessions/no-such-session").status_code == 404
    assert dave.get("/api/me").status_code == 200


def test_revoking_the_current_session_is_signing_out(browser, app, make):
    bob_user = make.user()
    api = browser()
    api.login(bob_user.email)
    [row] = index_rows(app, bob_user.id)
    response = api.delete(f"/api/sessions/{row.public_id}")
    assert response.status_code == 204
    assert "dealdesk_session=;" in response.headers.get("Set-Cookie", "")
    assert api.get("/api/me").status_code == 401


def test_revoke_others_keeps_only_the_current_session(browser, app, make):
    bob_user = make.user()
    dave_user = make.user(bob_user.organization_id)
    laptop, phone, tablet, dave = browser(), browser(), browser(), browser()
    for client in (laptop, phone, tablet):
        client.login(bob_user.email)
    dave.login(dave_user.email)
    response = laptop.post("/api/sessions/revoke-others")
    assert response.status_code == 200
    assert response.get_json() == {"revoked": 2}
    assert phone.get("/api/me").status_code == 401
    assert tablet.get("/api/me").status_code == 401
    assert laptop.get("/api/me").status_code == 200
    assert dave.get("/api/me").status_code == 200
    assert len(index_rows(app, bob_user.id)) == 1
    assert laptop.post("/api/sessions/revoke-others").get_json() == {"revoked": 0}


def test_sign_out_removes_the_row(api, app, make):
    bob_user = make.user()
    api.login(bob_user.email)
    assert len(index_rows(app, bob_user.id)) == 1
    assert api.post("/api/auth/logout").status_code == 204
    assert index_rows(app, bob_user.id) == []


def test_signing_in_again_in_the_same_browser_replaces_the_row(api, app, make):
    bob_user = make.user()
    api.login(bob_user.email)
    first = api.session_id()
    api.login(bob_user.email)
    assert api.session_id() != first
    assert [row.sid_hash for row in index_rows(app, bob_user.id)] == [sid_hash(api.session_id())]


def test_warm_requests_do_not_write_last_seen(api, app, make, count_queries):
    bob_user = make.user()
    api.login(bob_user.email)
    api.get("/api/csrf")
    [before] = index_rows(app, bob_user.id)
    with count_queries() as log:
        for _ in range(3):
            assert api.get("/api/csrf").status_code == 200
    assert log.app_statements == []
    assert log.store_statements == [] or all("user_sessions" not in s for s in log.store_statements)
    [after] = index_rows(app, bob_user.id)
    assert after.last_seen_at == before.last_seen_at


def test_last_seen_moves_when_the_session_lifetime_is_extended(api, app, make, count_queries):
    bob_user = make.user()
    api.login(bob_user.email)
    sid = api.session_id()
    backdate_last_seen(app, sid)
    [before] = index_rows(app, bob_user.id)
    age_session(app, sid, app.config["SESSION_TOUCH_INTERVAL_SECONDS"] + 5)
    with count_queries() as log:
        assert api.get("/api/csrf").status_code == 200
    assert log.app_statements == [], "the index write counts as session-store work, not an app query"
    assert any("UPDATE user_sessions" in s for s in log.store_statements)
    [after] = index_rows(app, bob_user.id)
    assert after.last_seen_at > before.last_seen_at + LONG_AGO - timedelta(minutes=1)
    assert after.expires_at >= before.expires_at


def test_expired_rows_are_not_listed(browser, app, demo):
    old, fresh = browser(), browser()
    old.login("bob@acme.test")
    fresh.login("bob@acme.test")
    with app.app_context():
        db.session.execute(
            update(UserSession)
            .where(UserSession.sid_hash == sid_hash(old.session_id()))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
        listed = session_index.list_user_sessions(db.session, demo["bob"])
        assert [row.sid_hash for row in listed] == [sid_hash(fresh.session_id())]
        db.session.remove()


def test_cli_style_revocation_by_public_id_without_a_user(browser, app, make):
    dave_user = make.user()
    api = browser()
    api.login(dave_user.email)
    [row] = index_rows(app, dave_user.id)
    with app.app_context():
        assert session_sync.revoke_session(db.session, public_id=row.public_id) == row.sid_hash
        assert session_sync.revoke_session(db.session, public_id=row.public_id) is None
        db.session.remove()
    assert api.get("/api/me").status_code == 401


def test_a_deactivated_user_is_not_indexed(app, make):
    """The sign-in race with a deactivation: the index insert itself requires an active user."""
    dave_user = make.user()
    with app.app_context():
        db.session.get(User, dave_user.id).is_active = False
        db.session.commit()
        row = session_index.record_sign_in(
            db.session,
            user_id=dave_user.id,
            session_id="a-session-id",
            client=ClientInfo(ip="127.0.0.1"),
            expires_at=utcnow() + timedelta(hours=1),
        )
        db.session.remove()
    assert row is None
    assert index_rows(app, dave_user.id) == []


def test_a_session_the_store_lost_is_not_listed_and_its_row_goes(browser, app, make):
    """A Redis restarted without its data, or a key evicted: the device is signed out, so it is not listed."""
    bob_user = make.user()
    laptop, phone = browser(), browser()
    laptop.login(bob_user.email)
    phone.login(bob_user.email)
    assert len(index_rows(app, bob_user.id)) == 2
    expire_session(app, phone.session_id())
    listed = laptop.get("/api/sessions").get_json()["sessions"]
    assert [entry["current"] for entry in listed] == [True]
    assert [row.sid_hash for row in index_rows(app, bob_user.id)] == [hash_session_id(laptop.session_id())]
    assert phone.get("/api/me").status_code == 401
