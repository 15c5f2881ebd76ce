"""The persistent deal context: select, clear, and auto-restore across browsers, expiry and servers."""

from __future__ import annotations

import time

from sqlalchemy import delete, update

from tests.support.state import (
    audit_actions,
    expire_session,
    last_deal_id,
    rewrite_stored_session,
    run_sql,
    stored_session,
)
from web.deal_context import request as deal_context
from web.deals.models import Deal as DealModel
from web.deals.models import DealMember
from web.identity.models import User
from web.platform.models import utcnow


def test_select_writes_database_session_and_audit(api, app, demo):
    api.login("alice@acme.test")
    response = api.post(f"/api/deals/{demo['northwind']}/select", headers={"User-Agent": "pytest-browser/1.0"})
    assert response.status_code == 200
    assert response.get_json()["current_deal"]["id"] == demo["northwind"]
    assert last_deal_id(app, demo["alice"]) == demo["northwind"]
    assert stored_session(app, api.session_id())["deal_ctx"]["deal_id"] == demo["northwind"]
    select_events = [e for e in audit_actions(app, demo["alice"]) if e.action == "deal.select"]
    assert len(select_events) == 1
    assert select_events[0].deal_id == demo["northwind"]
    assert select_events[0].ip == "127.0.0.1"
    assert select_events[0].user_agent == "pytest-browser/1.0"


def test_select_is_idempotent(api, app, demo):
    api.login("alice@acme.test")
    first = api.post(f"/api/deals/{demo['contoso']}/select")
    second = api.post(f"/api/deals/{demo['contoso']}/select")
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert last_deal_id(app, demo["alice"]) == demo["contoso"]


def test_clear_removes_selection_everywhere(api, app, demo):
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['contoso']}/select")
    response = api.delete("/api/deals/current")
    assert response.status_code == 200
    assert response.get_json() == {"current_deal": None}
    assert api.current_deal_id() is None
    assert last_deal_id(app, demo["alice"]) is None


def test_selection_survives_a_new_browser(browser, app, demo):
    first = browser()
    first.login("bob@acme.test")
    first.post(f"/api/deals/{demo['tailspin']}/select")
    second = browser()
    response = second.login("bob@acme.test")
    assert response.get_json()["current_deal"]["id"] == demo["tailspin"]
    assert second.current_deal_id() == demo["tailspin"]


def test_selection_survives_session_expiry(api, app, demo):
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['fabrikam']}/select")
    expire_session(app, api.session_id())
    assert api.get("/api/me").status_code == 401
    assert api.login("alice@acme.test").get_json()["current_deal"]["id"] == demo["fabrikam"]


def test_selection_survives_a_server_restart(stack_settings, demo, browser):
    api = browser()
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['contoso']}/select")
    restarted = stack_settings.make_app()
    same_browser_after_restart = api.client
    same_browser_after_restart.application = restarted
    assert api.current_deal_id() == demo["contoso"]
    assert api.get("/api/me").get_json()["current_deal"]["id"] == demo["contoso"]


def test_two_instances_share_the_selection(stack_settings, app, demo, browser):
    other = stack_settings.make_app()
    api = browser(app)
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['northwind']}/select")
    # The load balancer sends the same browser (same cookie) to the other server.
    api.client.application = other
    assert api.current_deal_id() == demo["northwind"]
    api.post(f"/api/deals/{demo['contoso']}/select")
    api.client.application = app
    assert api.current_deal_id() == demo["contoso"]


def test_warm_request_runs_no_app_query(api, app, demo, count_queries):
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['northwind']}/select")
    with count_queries() as log:
        assert api.get("/api/csrf").status_code == 200
    assert log.app_statements == []
    if app.config["SESSION_BACKEND"] == "sqlalchemy":
        # Reading the server-side session is the store's one SELECT; nothing is written back.
        assert len(log.store_statements) == 1
        assert log.store_statements[0].lstrip().upper().startswith("SELECT")
    else:
        assert log.store_statements == []


def test_cold_restore_runs_exactly_one_statement(api, app, demo, count_queries):
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['northwind']}/select")
    expire_session(app, api.session_id())
    api.login("alice@acme.test")
    # Make the signed-in session cold again, as after a deploy that added the context key.
    rewrite_stored_session(app, api.session_id(), lambda data: data.pop("deal_ctx"))
    with count_queries() as log:
        assert api.get("/api/csrf").status_code == 200
    assert len(log.app_statements) == 1, log.app_statements
    assert "INSERT INTO audit_events" in log.app_statements[0]
    assert stored_session(app, api.session_id())["deal_ctx"]["deal_id"] == demo["northwind"]
    assert [e.action for e in audit_actions(app, demo["alice"])].count("deal.restore") == 2


def test_restore_with_nothing_selected_marks_session_checked(api, app, demo, count_queries):
    api.login("dave@acme.test")
    assert stored_session(app, api.session_id())["deal_ctx"] == {"deal_id": None, "version": 0}
    with count_queries() as log:
        api.get("/api/csrf")
    assert log.app_statements == []


def test_soft_deleted_deal_cannot_be_selected(api, demo):
    api.login("alice@acme.test")
    response = api.post(f"/api/deals/{demo['litware']}/select")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_soft_deleted_deal_is_not_restored(browser, app, demo):
    api = browser()
    api.login("bob@acme.test")
    api.post(f"/api/deals/{demo['tailspin']}/select")
    run_sql(app, update(DealModel).where(DealModel.id == demo["tailspin"]).values(deleted_at=utcnow()))
    fresh = browser()
    assert fresh.login("bob@acme.test").get_json()["current_deal"] is None
    assert last_deal_id(app, demo["bob"]) is None
    assert "deal.restore_denied" in [e.action for e in audit_actions(app, demo["bob"])]


def test_removed_member_deal_is_not_restored_and_reference_is_cleared(browser, app, demo):
    api = browser()
    api.login("dave@acme.test")
    api.post(f"/api/deals/{demo['woodgrove']}/select")
    # Membership removed behind the app's back: only the restore's own check can catch it.
    run_sql(app, delete(DealMember).where(DealMember.user_id == demo["dave"]))
    fresh = browser()
    assert fresh.login("dave@acme.test").get_json()["current_deal"] is None
    assert last_deal_id(app, demo["dave"]) is None
    assert fresh.current_deal_id() is None


def test_deactivated_user_cannot_sign_in_and_keeps_no_context(browser, app, demo):
    api = browser()
    api.login("bob@acme.test")
    api.post(f"/api/deals/{demo['tailspin']}/select")
    run_sql(app, update(User).where(User.id == demo["bob"]).values(is_active=False))
    response = browser().post("/api/auth/login", json={"email": "bob@acme.test", "password": "demo-password"})
    assert response.status_code == 401


def test_a_change_made_outside_the_app_is_seen_once_the_cache_is_due(api, app, demo, monkeypatch):
    """SQL typed by an operator reaches no live session; the cache's age bound is the backstop."""
    api.login("dave@acme.test")
    api.post(f"/api/deals/{demo['woodgrove']}/select")
    run_sql(app, delete(DealMember).where(DealMember.user_id == demo["dave"]))
    assert api.current_deal_id() == demo["woodgrove"], "within DEAL_CACHE_SECONDS the cached deal is served"
    later = time.time() + app.config["DEAL_CACHE_SECONDS"] + 1
    monkeypatch.setattr(deal_context, "wall_clock", lambda: later)
    assert api.current_deal_id() is None
    assert api.get("/api/me").get_json()["current_deal"] is None
    assert stored_session(app, api.session_id())["deal_ctx"]["deal_id"] is None


def test_deleting_a_deal_clears_every_selection_of_it(browser, app, demo):
    bob, dave = browser(), browser()
    bob.login("bob@acme.test")
    dave.login("dave@acme.test")
    bob.post(f"/api/deals/{demo['woodgrove']}/select")
    dave.post(f"/api/deals/{demo['woodgrove']}/select")
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204
    assert last_deal_id(app, demo["bob"]) is None
    assert last_deal_id(app, demo["dave"]) is None
    assert bob.current_deal_id() is None
    assert dave.current_deal_id() is None
