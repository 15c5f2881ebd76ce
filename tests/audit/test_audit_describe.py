"""Audit events in plain language (web.audit.describe): every action code the app records has a sentence, and the
sentences name people and deals, not ids, even once the deal is deleted or the user is gone."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from tests.support.factories import Factories
from tests.support.stacks import BOTH_DATABASES
from web.audit.describe import ACTION_CHOICES, ACTIONS, ACTIVITY_ACTIONS, DELETED_DEAL, FORMER_USER, describe
from web.audit.models import AuditEvent
from web.audit.read_models import admin_audit_page
from web.audit.service import AuditFilter
from web.deals.models import Deal
from web.extensions import db
from web.identity.models import Role

WEB = Path(__file__).resolve().parents[2] / "web"
# An action code: a domain, a dot, lower-case words joined by underscores ("deal.member_add").
ACTION_CODE = re.compile(r"^(auth|user|session|deal)\.[a-z]+(?:_[a-z]+)*$")
NOT_ACTIONS = {"html", "py", "js", "css", "json"}  # "deal.html" is a template, not an action


def recorded_action_codes() -> set[str]:
    """Every string in web/ that looks like an action code: what record_event, record_deal_event, the
    session revocations and the restore's INSERT … SELECT write."""
    codes = set()
    for path in WEB.rglob("*.py"):
        if path.parts[-2:] == ("audit", "describe.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and ACTION_CODE.match(value) and value.rpartition(".")[2] not in NOT_ACTIONS:
                codes.add(value)
    return codes


def test_every_recorded_action_code_has_a_sentence_and_a_label():
    codes = recorded_action_codes()
    # The scan finds the codes it must (a broken scan would pass vacuously).
    assert {"deal.delete", "deal.select", "deal.restore", "session.revoke", "user.role_change"} <= codes
    assert codes - set(ACTIONS) == set(), "describe these in web/audit/describe.py"
    assert {code for code, _label in ACTION_CHOICES} == set(ACTIONS)
    assert all(label and "." not in label for _code, label in ACTION_CHOICES)


def test_the_activity_feed_leaves_out_selections_and_restores():
    assert set(ACTIVITY_ACTIONS) == {
        "deal.create",
        "deal.update",
        "deal.delete",
        "deal.member_add",
        "deal.member_role",
        "deal.member_remove",
        "deal.note_add",
    }


@dataclass
class Event:
    """An event as describe() reads it, written by hand for the sentences that need no database."""

    action: str
    user_email: str | None = "alice@acme.test"
    deal_name: str | None = "Northwind"
    deal_deleted_at: datetime | None = None
    subject_email: str | None = "carol@acme.test"
    details: dict[str, Any] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("event", "sentence"),
    [
        (
            Event("deal.update", details={"changes": {"stage": {"from": "diligence", "to": "negotiation"}}}),
            "alice@acme.test moved Northwind from Diligence to Negotiation",
        ),
        (
            Event("deal.update", details={"changes": {"name": {"from": "Atlas", "to": "Northwind"}}}),
            "alice@acme.test renamed a deal from “Atlas” to “Northwind”",
        ),
        (
            Event(
                "deal.update",
                details={
                    "changes": {
                        "stage": {"from": "sourcing", "to": "closed_won"},
                        "value": {"from": "5", "to": "1000000.00"},
                    }
                },
            ),
            "alice@acme.test changed Northwind: the stage from Sourcing to Closed won;"
            " the value from 5.00 to 1,000,000.00",
        ),
        (Event("deal.update", details={"fields": ["stage"]}), "alice@acme.test edited Northwind"),
        (
            Event("deal.delete", deal_name=None, details={"deal_name": "Project Atlas"}),
            "alice@acme.test deleted Project Atlas",
        ),
        (Event("deal.delete", deal_name=None), f"alice@acme.test deleted {DELETED_DEAL}"),
        (Event("deal.note_add", user_email=None), f"{FORMER_USER.capitalize()} added a note to Northwind"),
        (Event("deal.member_remove", subject_email=None), f"alice@acme.test removed {FORMER_USER} from Northwind"),
        (Event("session.revoke_all", details={"sessions": 3}), "alice@acme.test was signed out of 3 sessions"),
        (
            Event("user.role_change", details={"from": "member", "to": "admin"}),
            "alice@acme.test changed carol@acme.test's role from Member to Admin",
        ),
        (Event("test.unknown"), "alice@acme.test did “test.unknown” on Northwind"),
    ],
)
def test_sentences(event: Event, sentence: str):
    assert describe(event) == sentence


def page_sentences(app, organization_id: int) -> list[str]:
    """The admin page's events as sentences, newest first, read the way the page reads them."""
    with app.app_context():
        shown = admin_audit_page(db.session, where=AuditFilter(organization_id=organization_id), limit=200)
        db.session.remove()
    return [describe(event) for event in shown.page.events]


@BOTH_DATABASES
def test_what_people_did_reads_with_names_not_ids(api, browser, app, make: Factories):
    """Real actions through the API, then the trail: every sentence names its people and deal."""
    acme = make.organization()
    alice = make.user(acme, email="alice@names.test", role=Role.ADMIN)
    bob = make.user(acme, email="bob@names.test")
    carol = make.user(acme, email="carol@names.test")
    api.login(alice.email)
    created = api.post("/api/deals", json={"name": "Project Atlas", "stage": "diligence", "value": "5"})
    atlas = created.get_json()["id"]
    assert api.patch(f"/api/deals/{atlas}", json={"stage": "negotiation"}).status_code == 200
    assert api.post(f"/api/deals/{atlas}/members", json={"user_id": carol.id, "role": "editor"}).status_code == 201
    assert api.post(f"/api/deals/{atlas}/members", json={"user_id": carol.id, "role": "viewer"}).status_code == 200
    assert api.post(f"/api/deals/{atlas}/notes", json={"body": "Call the CFO"}).status_code == 201
    assert api.delete(f"/api/deals/{atlas}/members/{carol.id}").status_code == 204
    assert api.post(f"/api/deals/{atlas}/select").status_code == 200
    assert api.patch(f"/api/users/{bob.id}", json={"role": "admin"}).status_code == 200
    assert api.patch(f"/api/users/{bob.id}", json={"is_active": False}).status_code == 200
    assert api.delete(f"/api/deals/{atlas}").status_code == 204

    sentences = page_sentences(app, acme.id)
    expected = [
        "alice@names.test deleted Project Atlas",
        "alice@names.test deactivated bob@names.test",
        "alice@names.test changed bob@names.test's role from Member to Admin",
        "alice@names.test switched to Project Atlas",
        "alice@names.test removed carol@names.test from Project Atlas",
        "alice@names.test added a note to Project Atlas",
        "alice@names.test made carol@names.test viewer on Project Atlas",
        "alice@names.test added carol@names.test to Project Atlas as editor",
        "alice@names.test moved Project Atlas from Diligence to Negotiation",
        "alice@names.test created Project Atlas",
        "alice@names.test signed in",
    ]
    # Bob's sessions (none here) may add a "signed out" line; the rest is exactly this, in this order.
    assert [s for s in sentences if "signed out" not in s] == expected
    assert not re.search(r"[0-9]", " ".join(sentences)), "ids leaked into the sentences"


@BOTH_DATABASES
def test_a_deal_and_a_user_gone_from_the_database_still_read(api, app, make: Factories):
    """Hard-deleted rows (the foreign keys set the event's ids to NULL): the name the event recorded, or
    "a deleted deal" and "a former user"."""
    organization = make.organization()
    admin = make.user(organization, role=Role.ADMIN)
    leaver = make.user(organization, email="leaver@names.test")
    recorded = make.deal(admin, name="Recorded name")
    unrecorded = make.deal(admin, name="Forgotten name")
    with app.app_context():
        for deal, details in [(recorded, {"deal_name": "Recorded name"}), (unrecorded, {})]:
            db.session.add(
                AuditEvent(
                    organization_id=organization.id,
                    user_id=leaver.id,
                    deal_id=deal.id,
                    action="deal.delete",
                    details=details,
                )
            )
        db.session.commit()
        # Hard deletes: as if the rows were purged by hand.
        db.session.execute(update(AuditEvent).where(AuditEvent.user_id == leaver.id).values(user_id=None))
        db.session.execute(
            update(AuditEvent).where(AuditEvent.deal_id.in_([recorded.id, unrecorded.id])).values(deal_id=None)
        )
        db.session.execute(delete(Deal).where(Deal.id.in_([recorded.id, unrecorded.id])))
        db.session.commit()
        db.session.remove()
    sentences = page_sentences(app, organization.id)
    assert sentences[:2] == [
        f"{FORMER_USER.capitalize()} deleted {DELETED_DEAL}",
        f"{FORMER_USER.capitalize()} deleted Recorded name",
    ]


@BOTH_DATABASES
def test_a_soft_deleted_deal_keeps_its_name(api, app, make: Factories):
    organization = make.organization()
    admin = make.user(organization, email="admin@names.test", role=Role.ADMIN)
    deal = make.deal(admin, name="Old Atlas")
    api.login(admin.email)
    assert api.delete(f"/api/deals/{deal.id}").status_code == 204
    assert page_sentences(app, organization.id)[0] == "admin@names.test deleted Old Atlas"
