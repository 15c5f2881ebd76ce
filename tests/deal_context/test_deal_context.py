"""The persistent deal context: select, clear, and auto-restore across browsers, expiry and servers."""

from __future__ import annotations

import time

from sqlalchemy import delete, update

from tests.support.clients import ApiClient
from tests.support.factories import Factories
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


def sign_in_and_select(client: ApiClient, user: User, deal_id: int) -> None:
    """Sign ``user`` in on ``client`` and select ``deal_id`` (asserting it worked)."""
    client.login(user.email)
    assert client.post(f"/api/deals/{deal_id}/select").status_code == 200


def own_deal_selected(client: ApiClient, make: Factories) -> tuple[User, int]:
    """A new user with a deal of their own, signed in on ``client`` with that deal selected: (user, deal id)."""
    user = make.user()
    deal_id = make.deal(user).id
    sign_in_and_select(client, user, deal_id)
    return user, deal_id


def viewed_deal_selected(client: ApiClient, make: Factories) -> tuple[User, int]:
    """A new viewer of another user's deal, signed in on ``client`` with that deal selected: (viewer, deal id)."""
    deal = make.deal(make.user())
    viewer = make.viewer(deal)
    sign_in_and_select(client, viewer, deal.id)
    return viewer, deal.id


def test_select_writes_database_session_and_audit(api, app, make):
    alice = make.user()
    northwind = make.deal(alice).id
    api.login(alice.email)
    response = api.post(f"/api/deals/{northwind}/select", headers={"User-Agent": "pytest-browser/1.0"})
    assert response.status_code == 200
    assert response.get_json()["current_deal"]["id"] == northwind
    assert last_deal_id(app, alice.id) == northwind
    assert stored_session(app, api.session_id())["deal_ctx"]["deal_id"] == northwind
    select_events = [e for e in audit_actions(app, alice.id) if e.action == "deal.select"]
    assert len(select_events) == 1
    assert select_events[0].deal_id == northwind
    assert select_events[0].ip == "127.0.0.1"
    assert select_events[0].user_agent == "pytest-browser/1.0"


def test_select_is_idempotent(api, app, make):
    alice = make.user()
    contoso = make.deal(alice).id
    api.login(alice.email)
    first = api.post(f"/api/deals/{contoso}/select")
    second = api.post(f"/api/deals/{contoso}/select")
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert last_deal_id(app, alice.id) == contoso


def test_clear_removes_selection_everywhere(api, app, make):
    alice, _ = own_deal_selected(api, make)
    response = api.delete("/api/deals/current")
    assert response.status_code == 200
    assert response.get_json() == {"current_deal": None}
    assert api.current_deal_id() is None
    assert last_deal_id(app, alice.id) is None


def test_selection_survives_a_new_browser(browser, app, make):
    bob, tailspin = own_deal_selected(browser(), make)
    second = browser()
    response = second.login(bob.email)
    assert response.get_json()["current_deal"]["id"] == tailspin
    assert second.current_deal_id() == tailspin


def test_selection_survives_session_expiry(api, app, make):
    alice, fabrikam = own_deal_selected(api, make)
    expire_session(app, api.session_id())
    assert api.get("/api/me").status_code == 401
    assert api.login(alice.email).get_json()["current_deal"]["id"] == fabrikam


def test_selection_survives_a_server_restart(stack_settings, make, browser):
    api = browser()
    _, contoso = own_deal_selected(api, make)
    restarted = stack_settings.make_app()
    same_browser_after_restart = api.client
    same_browser_after_restart.application = restarted
    assert api.current_deal_id() == contoso
    assert api.get("/api/me").get_json()["current_deal"]["id"] == contoso


def test_two_instances_share_the_selection(stack_settings, app, make, browser):
    alice = make.user()
    northwind, contoso = make.deal(alice).id, make.deal(alice).id
    other = stack_settings.make_app()
    api = browser(app)
    api.login(alice.email)
    api.post(f"/api/deals/{northwind}/select")
    # The load balancer sends the same browser (same cookie) to the other server.
    api.client.application = other
    assert api.current_deal_id() == northwind
    api.post(f"/api/deals/{contoso}/select")
    api.client.application = app
    assert api.current_deal_id() == contoso


def test_warm_request_runs_no_app_query(api, app, make, count_queries):
    own_deal_selected(api, make)
    with count_queries() as log:
        assert api.get("/api/csrf").status_code == 200
    assert log.app_statements == []
    if app.config["SESSION_BACKEND"] == "sqlalchemy":
        # Reading the server-side session is the store's one SELECT; nothing is written back.
        assert len(log.store_statements) == 1
        assert log.store_statements[0].lstrip().upper().startswith("SELECT")
    else:
        assert log.store_statements == []


def test_cold_restore_runs_exactly_one_statement(api, app, make, count_queries):
    alice, northwind = own_deal_selected(api, make)
    expire_session(app, api.session_id())
    api.login(alice.email)
    # Make the signed-in session cold again, as after a deploy that added the context key.
    rewrite_stored_session(app, api.session_id(), lambda data: data.pop("deal_ctx"))
    with count_queries() as log:
        assert api.get("/api/csrf").status_code == 200
    assert len(log.app_statements) == 1, log.app_statements
    assert "INSERT INTO audit_events" in log.app_statements[0]
    assert stored_session(app, api.session_id())["deal_ctx"]["deal_id"] == northwind
    assert [e.action for e in audit_actions(app, alice.id)].count("deal.restore") == 2


def test_restore_with_nothing_selected_marks_session_checked(api, app, make, count_queries):
    api.login(make.user().email)
    assert stored_session(app, api.session_id())["deal_ctx"] == {"deal_id": None, "version": 0}
    with count_queries() as log:
        api.get("/api/csrf")
    assert log.app_statements == []


def test_soft_deleted_deal_cannot_be_selected(api, make):
    alice = make.user()
    litware = make.deal(alice, deleted=True).id
    api.login(alice.email)
    response = api.post(f"/api/deals/{litware}/select")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_soft_deleted_deal_is_not_restored(browser, app, make):
    bob, tailspin = own_deal_selected(browser(), make)
    run_sql(app, update(DealModel).where(DealModel.id == tailspin).values(deleted_at=utcnow()))
    fresh = browser()
    assert fresh.login(bob.email).get_json()["current_deal"] is None
    assert last_deal_id(app, bob.id) is None
    assert "deal.restore_denied" in [e.action for e in audit_actions(app, bob.id)]


def test_removed_member_deal_is_not_restored_and_reference_is_cleared(browser, app, make):
    dave, _ = viewed_deal_selected(browser(), make)
    # Membership removed behind the app's back: only the restore's own check can catch it.
    run_sql(app, delete(DealMember).where(DealMember.user_id == dave.id))
    fresh = browser()
    assert fresh.login(dave.email).get_json()["current_deal"] is None
    assert last_deal_id(app, dave.id) is None
    assert fresh.current_deal_id() is None


def test_deactivated_user_cannot_sign_in_and_keeps_no_context(browser, app, make):
    bob, _ = own_deal_selected(browser(), make)
    run_sql(app, update(User).where(User.id == bob.id).values(is_active=False))
    response = browser().post("/api/auth/login", json={"email": bob.email, "password": "demo-password"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "account_deactivated"


def test_a_change_made_outside_the_app_is_seen_once_the_cache_is_due(api, app, make, monkeypatch):
    """SQL typed by an operator reaches no live session; the cache's age bound is the backstop."""
    dave, woodgrove = viewed_deal_selected(api, make)
    run_sql(app, delete(DealMember).where(DealMember.user_id == dave.id))
    assert api.current_deal_id() == woodgrove, "within DEAL_CACHE_SECONDS the cached deal is served"
    later = time.time() + app.config["DEAL_CACHE_SECONDS"] + 1
    monkeypatch.setattr(deal_context, "wall_clock", lambda: later)
    assert api.current_deal_id() is None
    assert api.get("/api/me").get_json()["current_deal"] is None
    assert stored_session(app, api.session_id())["deal_ctx"]["deal_id"] is None


def test_deleting_a_deal_clears_every_selection_of_it(browser, app, make):
    owner = make.user()
    deal = make.deal(owner)
    woodgrove = deal.id
    member = make.viewer(deal)
    bob, dave = browser(), browser()
    sign_in_and_select(bob, owner, woodgrove)
    sign_in_and_select(dave, member, woodgrove)
    assert bob.delete(f"/api/deals/{woodgrove}").status_code == 204
    assert last_deal_id(app, owner.id) is None
    assert last_deal_id(app, member.id) is None
    assert bob.current_deal_id() is None
    assert dave.current_deal_id() is None
