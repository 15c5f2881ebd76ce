"""Changes reach live sessions at once: two browsers, one changes, the other's very next request shows it.

Nothing here is re-checked per request: the change rewrites or destroys the affected
sessions through the index, and warm requests still run no application query.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from tests.support.clients import signed_in
from tests.support.factories import Factories
from tests.support.state import index_rows, last_deal_id, stored_session
from web.deals.models import Deal
from web.extensions import db
from web.identity.models import User
from web.platform.session_store.base import hash_session_id

WOODGROVE = "Woodgrove Bank branch sale"


def deal_context(app: Flask, browser_sid: str) -> dict | None:
    return (stored_session(app, browser_sid) or {}).get("deal_ctx")


def context_version(app: Flask, user_id: int) -> int:
    with app.app_context():
        version = db.session.scalar(select(User.deal_context_version).where(User.id == user_id))
        db.session.remove()
    return int(version or 0)


def woodgrove_with_a_viewer(make: Factories) -> tuple[User, Deal, User]:
    """A deal named like the cast's Woodgrove, of a new owner, with a viewer: (owner, deal, viewer)."""
    owner = make.user()
    deal = make.deal(owner, name=WOODGROVE)
    return owner, deal, make.viewer(deal)


def test_deleted_deal_leaves_the_context_of_every_live_session(browser, app, demo, count_queries):
    bob, dave, alice = browser(), browser(), browser()
    bob.login("bob@acme.test")
    dave.login("dave@acme.test")
    alice.login("alice@acme.test")
    woodgrove = demo["woodgrove"]  # bob owns it, dave is a viewer, alice is an admin
    for client in (dave, alice):
        assert client.post(f"/api/deals/{woodgrove}/select").status_code == 200
    assert bob.delete(f"/api/deals/{woodgrove}").status_code == 204

    for client, name in ((dave, "dave"), (alice, "alice")):
        context = deal_context(app, client.session_id())
        assert context == {"deal_id": None, "version": context_version(app, demo[name])}
        assert last_deal_id(app, demo[name]) is None
    with count_queries() as log:
        assert dave.get("/api/csrf").status_code == 200
        assert dave.get("/api/me").get_json()["current_deal"] is None
    assert log.app_statements == [], "the context was rewritten in place: no restore, no re-check"


def test_deleted_deal_leaves_an_older_session_even_when_another_holds_a_newer_choice(browser, app, demo):
    office, home, bob = browser(), browser(), browser()
    office.login("alice@acme.test")
    home.login("alice@acme.test")
    bob.login("bob@acme.test")
    assert office.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    assert home.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    home_before = deal_context(app, home.session_id())
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204
    new_version = context_version(app, demo["alice"])
    # The office session held the deleted deal: it takes the user's durable choice, the newer one.
    assert deal_context(app, office.session_id()) == {"deal_id": demo["northwind"], "version": new_version}
    home_after = deal_context(app, home.session_id())
    # Raised to the deletion's version (older selections in flight cannot land), deal and cache kept.
    assert home_after == {**home_before, "version": new_version}
    assert new_version > home_before["version"]
    assert last_deal_id(app, demo["alice"]) == demo["northwind"]
    assert home.current_deal_id() == demo["northwind"]


def test_removed_member_loses_the_deal_on_the_next_request(browser, app, make, count_queries):
    owner, deal, viewer = woodgrove_with_a_viewer(make)
    bob, dave = signed_in(browser, owner.email), signed_in(browser, viewer.email)
    assert dave.post(f"/api/deals/{deal.id}/select").status_code == 200
    assert bob.delete(f"/api/deals/{deal.id}/members/{viewer.id}").status_code == 204
    with count_queries() as log:
        me = dave.get("/api/me").get_json()
    assert me["current_deal"] is None
    assert log.app_statements == []
    assert deal_context(app, dave.session_id()) == {
        "deal_id": None,
        "version": context_version(app, viewer.id),
    }
    assert last_deal_id(app, viewer.id) is None


def test_removed_member_who_still_sees_the_deal_keeps_it(browser, app, demo):
    bob, alice = browser(), browser()
    bob.login("bob@acme.test")
    alice.login("alice@acme.test")
    assert bob.post(f"/api/deals/{demo['woodgrove']}/members", json={"user_id": demo["alice"]}).status_code == 201
    assert alice.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    before = deal_context(app, alice.session_id())
    assert bob.delete(f"/api/deals/{demo['woodgrove']}/members/{demo['alice']}").status_code == 204
    assert deal_context(app, alice.session_id()) == before  # an admin sees every deal of the organization
    assert alice.current_deal_id() == demo["woodgrove"]


def test_role_change_is_rewritten_in_the_users_sessions(browser, app, demo, count_queries):
    alice, bob, bob_phone = browser(), browser(), browser()
    alice.login("alice@acme.test")
    bob.login("bob@acme.test")
    bob_phone.login("bob@acme.test")
    assert bob.get("/api/users").status_code == 403
    response = alice.patch(f"/api/users/{demo['bob']}", json={"role": "admin"})
    assert response.status_code == 200
    for client in (bob, bob_phone):
        with count_queries() as log:
            assert client.get("/api/me").get_json()["user"]["role"] == "admin"
        assert log.app_statements == []
        assert stored_session(app, client.session_id())["user_role"] == "admin"
    assert bob.get("/api/users").status_code == 200
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "member"}).status_code == 200
    assert bob_phone.get("/api/me").get_json()["user"]["role"] == "member"
    assert bob_phone.get("/api/users").status_code == 403


def test_deactivation_destroys_every_session_of_the_user(browser, app, demo):
    alice, dave, dave_phone = browser(), browser(), browser()
    alice.login("alice@acme.test")
    dave.login("dave@acme.test")
    dave_phone.login("dave@acme.test")
    sids = [dave.session_id(), dave_phone.session_id()]
    assert alice.patch(f"/api/users/{demo['dave']}", json={"is_active": False}).status_code == 200
    for client, sid in zip((dave, dave_phone), sids, strict=True):
        assert client.get("/api/me").status_code == 401
        assert stored_session(app, sid) is None
    assert index_rows(app, demo["dave"]) == []
    response = browser().post("/api/auth/login", json={"email": "dave@acme.test", "password": "demo-password"})
    assert response.status_code == 403  # the right password: told the account is deactivated
    assert alice.get("/api/me").status_code == 200


def test_password_change_destroys_the_other_sessions_only(browser, app, make):
    bob = make.user()
    laptop, phone, tablet = browser(), browser(), browser()
    for client in (laptop, phone, tablet):
        client.login(bob.email)
    response = laptop.post(
        "/api/auth/password",
        json={"current_password": "demo-password", "new_password": "a much longer passphrase 42"},
    )
    assert response.status_code == 200
    assert response.get_json() == {"revoked": 2}
    assert phone.get("/api/me").status_code == 401
    assert tablet.get("/api/me").status_code == 401
    assert laptop.get("/api/me").status_code == 200
    assert [row.user_id for row in index_rows(app, bob.id)] == [bob.id]
    new = browser()
    new.login(bob.email, "a much longer passphrase 42")
    old = browser().post("/api/auth/login", json={"email": bob.email, "password": "demo-password"})
    assert old.status_code == 401


def test_warm_current_deal_is_served_from_the_session(api, app, make, count_queries):
    _, deal, viewer = woodgrove_with_a_viewer(make)
    api.login(viewer.email)
    assert api.post(f"/api/deals/{deal.id}/select").status_code == 200
    with count_queries() as log:
        body = api.get("/api/deals/current").get_json()
    assert body["current_deal"]["name"] == WOODGROVE
    assert log.app_statements == [], "the selection cached the deal: a warm read asks the database nothing"
    assert deal_context(app, api.session_id())["deal"] == body["current_deal"]


def test_a_restored_context_is_checked_and_cached_once(browser, app, make, count_queries):
    _, deal, viewer = woodgrove_with_a_viewer(make)
    first = signed_in(browser, viewer.email)
    assert first.post(f"/api/deals/{deal.id}/select").status_code == 200
    second = browser()
    # The restore brings back the deal id; the sign-in's answer shows the deal, fetched and checked.
    assert second.login(viewer.email).get_json()["current_deal"]["id"] == deal.id
    assert deal_context(app, second.session_id())["deal"]["id"] == deal.id
    with count_queries() as log:
        assert second.current_deal_id() == deal.id
    assert log.app_statements == []


def test_a_changed_deal_is_shown_changed_on_the_next_read(browser, app, make, count_queries):
    owner, deal, viewer = woodgrove_with_a_viewer(make)
    bob, dave = signed_in(browser, owner.email), signed_in(browser, viewer.email)
    assert dave.post(f"/api/deals/{deal.id}/select").status_code == 200
    assert dave.current_deal_id() == deal.id
    response = bob.patch(f"/api/deals/{deal.id}", json={"name": "Woodgrove Bank, renamed", "stage": "negotiation"})
    assert response.status_code == 200
    assert "deal" not in deal_context(app, dave.session_id()), "the edit dropped the cached copy"
    current = dave.get("/api/deals/current").get_json()["current_deal"]
    assert (current["name"], current["stage"]) == ("Woodgrove Bank, renamed", "negotiation")
    with count_queries() as log:
        assert dave.get("/api/me").get_json()["current_deal"]["name"] == "Woodgrove Bank, renamed"
    assert log.app_statements == []


def test_a_demoted_admin_loses_a_deal_seen_only_as_admin(browser, app, demo, count_queries):
    alice, bob, bob_phone = browser(), browser(), browser()
    alice.login("alice@acme.test")
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "admin"}).status_code == 200
    bob.login("bob@acme.test")
    assert bob.post(f"/api/deals/{demo['northwind']}/select").status_code == 200  # alice's deal
    bob_phone.login("bob@acme.test")
    assert bob_phone.current_deal_id() == demo["northwind"]
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "member"}).status_code == 200
    assert last_deal_id(app, demo["bob"]) is None
    for client in (bob, bob_phone):
        with count_queries() as log:
            assert client.current_deal_id() is None
        assert log.app_statements == []
        assert deal_context(app, client.session_id()) == {"deal_id": None, "version": context_version(app, demo["bob"])}
    assert bob.post(f"/api/deals/{demo['northwind']}/select").status_code == 404


def test_a_demoted_admin_keeps_a_deal_they_still_see(browser, app, demo):
    alice, bob = browser(), browser()
    alice.login("alice@acme.test")
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "admin"}).status_code == 200
    bob.login("bob@acme.test")
    assert bob.post(f"/api/deals/{demo['tailspin']}/select").status_code == 200  # bob's own deal
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "member"}).status_code == 200
    assert last_deal_id(app, demo["bob"]) == demo["tailspin"]
    assert bob.current_deal_id() == demo["tailspin"]
    assert deal_context(app, bob.session_id())["deal"]["id"] == demo["tailspin"], "the cache was kept"


def test_an_older_selection_saved_after_a_removal_cannot_bring_the_deal_back(browser, app, demo):
    """The race the version floor closes: a selection checked before a removal, saved after it."""
    bob, dave = browser(), browser()
    bob.login("bob@acme.test")
    dave.login("dave@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    in_flight = deal_context(app, dave.session_id())  # what a slow selection would save
    assert bob.delete(f"/api/deals/{demo['woodgrove']}/members/{demo['dave']}").status_code == 204
    interface = app.session_interface
    with app.app_context():
        store_id = interface.store_id_for_hash(hash_session_id(dave.session_id()))
        assert interface.merge_into_store(store_id, {"deal_ctx": in_flight}, set(), extend=False)
    assert deal_context(app, dave.session_id())["deal_id"] is None
    assert dave.current_deal_id() is None
