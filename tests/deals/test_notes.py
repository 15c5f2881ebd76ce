"""The notes API: members read a deal's notes, editors, the owner and admins write them."""

from __future__ import annotations

import pytest

from tests.support.stacks import SQLITE_SQL
from tests.support.state import audit_actions
from web.deals.models import MemberRole


def test_owner_writes_and_members_read_notes(browser, make):
    owner = make.user(email="bob@acme.test")
    woodgrove = make.deal(owner)
    make.member(woodgrove, make.user(owner.organization_id, email="dave@acme.test"), role=MemberRole.VIEWER)
    bob = browser()
    bob.login("bob@acme.test")
    created = bob.post(f"/api/deals/{woodgrove.id}/notes", json={"body": "  Data room opens Monday.  "})
    assert created.status_code == 201, created.get_json()
    note = created.get_json()
    assert note["body"] == "Data room opens Monday."
    assert note["author"] == {"id": owner.id, "email": "bob@acme.test"}

    dave = browser()
    dave.login("dave@acme.test")  # a viewer member of Woodgrove
    listed = dave.get(f"/api/deals/{woodgrove.id}/notes")
    assert listed.status_code == 200
    assert listed.get_json()["total"] == 1
    assert [n["id"] for n in listed.get_json()["notes"]] == [note["id"]]


def test_viewer_may_not_write_a_note(api, make):
    woodgrove = make.deal(make.user())
    viewer = make.user(woodgrove.organization_id)
    make.member(woodgrove, viewer, role=MemberRole.VIEWER)
    api.login(viewer.email)
    response = api.post(f"/api/deals/{woodgrove.id}/notes", json={"body": "hello"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_editor_member_and_admin_may_write(browser, demo):
    bob = browser()
    bob.login("bob@acme.test")
    assert (
        bob.post(
            f"/api/deals/{demo['woodgrove']}/members", json={"user_id": demo["dave"], "role": "editor"}
        ).status_code
        == 200
    )
    dave = browser()
    dave.login("dave@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/notes", json={"body": "editor note"}).status_code == 201
    alice = browser()
    alice.login("alice@acme.test")  # admin, neither owner nor member
    assert alice.post(f"/api/deals/{demo['woodgrove']}/notes", json={"body": "admin note"}).status_code == 201


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_notes_of_an_invisible_deal_are_not_found(browser, demo):
    dave = browser()
    dave.login("dave@acme.test")
    assert dave.get(f"/api/deals/{demo['northwind']}/notes").status_code == 404
    assert dave.post(f"/api/deals/{demo['northwind']}/notes", json={"body": "x"}).status_code == 404
    carol = browser()
    carol.login("carol@globex.test")  # admin of another organization
    assert carol.get(f"/api/deals/{demo['woodgrove']}/notes").status_code == 404


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
@pytest.mark.parametrize(
    "payload", [{"body": ""}, {"body": "   "}, {"body": "x" * 2001}, {"body": "ok", "extra": 1}, {}]
)
def test_invalid_note_is_rejected(api, make, payload):
    owner = make.user()
    woodgrove = make.deal(owner)
    api.login(owner.email)
    response = api.post(f"/api/deals/{woodgrove.id}/notes", json=payload)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_notes_need_sign_in_and_csrf(browser, make):
    owner = make.user()
    woodgrove = make.deal(owner)
    anonymous = browser()
    assert anonymous.get(f"/api/deals/{woodgrove.id}/notes").status_code == 401
    bob = browser()
    bob.login(owner.email)
    response = bob.client.post(f"/api/deals/{woodgrove.id}/notes", json={"body": "no token"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_notes_are_newest_first_and_paged(app, api, make):
    owner = make.user()
    woodgrove = make.deal(owner)
    api.login(owner.email)
    for n in range(3):
        assert api.post(f"/api/deals/{woodgrove.id}/notes", json={"body": f"note {n}"}).status_code == 201
    page = api.get(f"/api/deals/{woodgrove.id}/notes?limit=2").get_json()
    assert page["total"] == 3
    assert [n["body"] for n in page["notes"]] == ["note 2", "note 1"]
    rest = api.get(f"/api/deals/{woodgrove.id}/notes?limit=2&offset=2").get_json()
    assert [n["body"] for n in rest["notes"]] == ["note 0"]
    assert [e.action for e in audit_actions(app, owner.id)].count("deal.note_add") == 3
