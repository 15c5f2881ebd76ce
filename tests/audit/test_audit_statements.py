"""The audit trail reads a page in a fixed number of statements, however many events, users and deals it shows.

Counted on the app's engine only; the session store's read (one more with SQL sessions) is not the audit's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from tests.support.factories import Factories
from tests.support.stacks import BOTH_DATABASES
from web.audit.models import AuditEvent
from web.extensions import db

EVENTS = 60
# Later than the sign-in events the tests make, so the pages show the seeded events first.
START = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
# What base.html's page header costs on every page (web/deal_context/header.py): one statement
# for the switcher's deals, their count and the current deal. The audit's own share is one more.
PAGE_HEADER_STATEMENTS = 1


def seed_events(app: Flask, make: Factories, demo: dict[str, int]) -> None:
    """``EVENTS`` Acme events by five users and by no one, on three deals and on none, pairs sharing a time."""
    analysts = [make.user(demo["acme"], email=f"analyst{n}@acme.test") for n in range(2)]
    users = [demo["alice"], demo["bob"], demo["dave"], *(user.id for user in analysts), None]
    deals = [demo["northwind"], demo["tailspin"], demo["contoso"], None]
    with app.app_context():
        for index in range(EVENTS):
            db.session.add(
                AuditEvent(
                    organization_id=demo["acme"],
                    user_id=users[index % len(users)],
                    deal_id=deals[index % len(deals)],
                    action=f"test.event{index}",
                    ip=f"10.0.0.{index}" if index % 3 else None,
                    user_agent=f"agent/{index}" if index % 2 else None,
                    details={"n": index} if index % 5 else {},
                    created_at=START + timedelta(seconds=index // 2),
                )
            )
        db.session.commit()
        db.session.remove()


def audit_statements(statements: list[str]) -> list[str]:
    # The page header reads the user's recent selections from audit_events too ("recent_selections"): not the audit's.
    return [
        statement for statement in statements if "audit_events" in statement and "recent_selections" not in statement
    ]


@BOTH_DATABASES
def test_first_api_page_is_one_statement(api, app, make, demo, count_queries):
    seed_events(app, make, demo)
    api.login("alice@acme.test")
    with count_queries() as log:
        response = api.get("/api/audit")
    assert response.status_code == 200
    events = response.get_json()["events"]
    assert len(events) == 50
    assert len({event["user_email"] for event in events}) == 6  # five users and None
    assert len({event["deal_id"] for event in events}) == 4
    assert len(log.app_statements) == 1, log.app_statements


@BOTH_DATABASES
def test_api_page_after_a_cursor_with_filters_is_one_statement(api, app, make, demo, count_queries):
    seed_events(app, make, demo)
    api.login("alice@acme.test")
    cursor = api.get("/api/audit", query_string={"limit": 10}).get_json()["next_before"]
    with count_queries() as log:
        response = api.get("/api/audit", query_string={"before": cursor, "limit": 7})
    assert response.status_code == 200
    assert len(response.get_json()["events"]) == 7
    assert len(log.app_statements) == 1, log.app_statements
    filters = {"before": cursor, "user_id": demo["bob"], "deal_id": demo["tailspin"], "action": "test.event13"}
    with count_queries() as log:
        response = api.get("/api/audit", query_string=filters)
    assert [event["action"] for event in response.get_json()["events"]] == ["test.event13"]
    assert len(log.app_statements) == 1, log.app_statements


@BOTH_DATABASES
def test_admin_page_is_one_audit_statement_beside_the_page_header(api, app, make, demo, count_queries):
    seed_events(app, make, demo)
    api.login("alice@acme.test")
    with count_queries() as log:
        page = api.get("/admin/audit")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("<tr data-event-id=") == 50
    assert len(audit_statements(log.app_statements)) == 1, log.app_statements
    assert len(log.app_statements) == 1 + PAGE_HEADER_STATEMENTS, log.app_statements
    cursor = api.get("/api/audit").get_json()["next_before"]
    with count_queries() as log:
        older = api.get("/admin/audit", query_string={"before": cursor, "user_id": demo["bob"]})
    assert older.status_code == 200
    assert len(log.app_statements) == 1 + PAGE_HEADER_STATEMENTS, log.app_statements
