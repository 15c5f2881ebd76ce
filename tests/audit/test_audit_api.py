"""The audit trail API and page: admins only, own organization, newest first, keyset pages; retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support.stacks import SQLITE_SQL
from web.audit.models import AuditEvent
from web.audit.service import Cursor, purge_old_events
from web.extensions import db
from web.platform.models import utcnow


def add_events(
    app, organization_id: int, user_id: int | None, actions: list[str], *, age=timedelta(0), same_time=False
):
    """Write events directly, oldest first (``same_time``: all with one timestamp, to test the id tie-break)."""
    start = utcnow() - age
    with app.app_context():
        for index, action in enumerate(actions):
            created = start if same_time else start + timedelta(milliseconds=index)
            db.session.add(
                AuditEvent(organization_id=organization_id, user_id=user_id, action=action, created_at=created)
            )
        db.session.commit()
        db.session.remove()


def test_admin_reads_own_organization_newest_first(api, browser, demo):
    carol = browser()
    carol.login("carol@globex.test")
    assert carol.post(f"/api/deals/{demo['initech']}/select").status_code == 200
    api.login("alice@acme.test")
    assert api.post(f"/api/deals/{demo['northwind']}/select").status_code == 200

    response = api.get("/api/audit")
    assert response.status_code == 200
    events = response.get_json()["events"]
    assert [e["action"] for e in events[:2]] == ["deal.select", "auth.login"]
    assert events[0]["deal_id"] == demo["northwind"]
    assert events[0]["user_email"] == "alice@acme.test"
    assert {e["user_email"] for e in events} == {"alice@acme.test"}  # nothing of Globex
    assert response.get_json()["next_before"] is None


def test_members_are_refused_and_strangers_must_sign_in(api, demo):
    assert api.get("/api/audit").status_code == 401
    api.login("bob@acme.test")
    response = api.get("/api/audit")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_filters_by_user_deal_and_action(api, browser, demo):
    bob = browser()
    bob.login("bob@acme.test")
    assert bob.post(f"/api/deals/{demo['tailspin']}/select").status_code == 200
    api.login("alice@acme.test")
    api.post(f"/api/deals/{demo['northwind']}/select")

    def actions(**params):
        response = api.get("/api/audit", query_string=params)
        assert response.status_code == 200, response.get_json()
        return [(e["user_id"], e["action"], e["deal_id"]) for e in response.get_json()["events"]]

    assert actions(user_id=demo["bob"]) == [
        (demo["bob"], "deal.select", demo["tailspin"]),
        (demo["bob"], "auth.login", None),
    ]
    assert actions(deal_id=demo["northwind"]) == [(demo["alice"], "deal.select", demo["northwind"])]
    assert {a for _u, a, _d in actions(action="auth.login")} == {"auth.login"}
    assert len(actions(action="auth.login")) == 2
    assert actions(user_id=demo["carol"]) == []  # another organization's user: nothing


def test_keyset_pages_cover_every_event_once_even_with_equal_timestamps(api, app, demo):
    add_events(app, demo["acme"], demo["bob"], [f"test.tied{i}" for i in range(5)], same_time=True)
    add_events(app, demo["acme"], demo["bob"], [f"test.event{i}" for i in range(6)], age=timedelta(hours=1))
    api.login("alice@acme.test")
    seen, before, pages = [], None, 0
    while True:
        params = {"limit": 3, "user_id": demo["bob"], **({"before": before} if before else {})}
        body = api.get("/api/audit", query_string=params).get_json()
        seen += [(e["created_at"], e["id"], e["action"]) for e in body["events"]]
        pages += 1
        before = body["next_before"]
        if before is None:
            break
        # An event written between two pages does not shift the next page.
        add_events(app, demo["acme"], demo["bob"], ["test.late"])
    assert pages == 4
    assert len(seen) == len({event_id for _t, event_id, _a in seen}) == 11
    assert seen == sorted(seen, reverse=True)
    assert [a for _t, _i, a in seen[:5]] == [f"test.tied{i}" for i in reversed(range(5))]


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
@pytest.mark.parametrize("before", ["yesterday", "1-", "-1", "99999999999999999999-1", "1-1; drop"])
def test_bad_cursor_is_a_validation_error(api, demo, before):
    api.login("alice@acme.test")
    response = api.get("/api/audit", query_string={"before": before})
    assert response.status_code == 422
    assert "before" in response.get_json()["error"]["fields"]


def test_cursor_round_trips():
    now = utcnow()
    cursor = Cursor(now, 42)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_audit_page_for_admins(api, browser, app, demo):
    assert api.get("/admin/audit").status_code == 302
    bob = browser()
    bob.login("bob@acme.test")
    assert bob.get("/admin/audit").status_code == 403
    add_events(app, demo["acme"], demo["bob"], [f"test.page{i}" for i in range(4)])
    api.login("alice@acme.test")
    page = api.get("/admin/audit", query_string={"limit": 2, "user_id": demo["bob"]})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "test.page3" in html and "test.page2" in html and "test.page1" not in html
    assert "Older events" in html
    older = api.get("/admin/audit", query_string={"limit": 2, "user_id": demo["bob"], "before": page_cursor(html)})
    assert "test.page1" in older.get_data(as_text=True)


def page_cursor(html: str) -> str:
    import re

    return re.search(r"before=([0-9]+-[0-9]+)", html).group(1)


def count_events(app) -> int:
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(AuditEvent))
        db.session.remove()
    return int(total)


def test_retention_deletes_only_old_events_in_batches(app, demo):
    add_events(app, demo["acme"], None, [f"test.old{i}" for i in range(7)], age=timedelta(days=400))
    add_events(app, demo["globex"], None, [f"test.recent{i}" for i in range(3)], age=timedelta(days=300))
    with app.app_context():
        deleted = purge_old_events(db.session, keep_days=365, batch_size=2)
        remaining = set(db.session.scalars(select(AuditEvent.action)))
        db.session.remove()
    assert deleted == 7
    assert remaining == {f"test.recent{i}" for i in range(3)}
    with app.app_context():
        assert purge_old_events(db.session, keep_days=365, batch_size=1000) == 0
        assert purge_old_events(db.session, keep_days=30, batch_size=1000) == 3
        db.session.remove()
    assert count_events(app) == 0


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_retention_runs_as_a_scheduled_job_with_the_configured_age(stack_settings, app, demo):
    from web.jobs.registry import get_job
    from web.jobs.runner import run_job

    add_events(app, demo["acme"], None, ["test.old"] * 3, age=timedelta(days=40))
    add_events(app, demo["acme"], None, ["test.recent"], age=timedelta(days=10))
    default = run_job(app, get_job("audit_retention"))
    assert (default.status, default.rows_affected) == ("success", 0)  # 365 days by default
    short = stack_settings.make_app(AUDIT_RETENTION_DAYS=30, AUDIT_PURGE_BATCH_SIZE=2)
    result = run_job(short, get_job("audit_retention"))
    assert (result.status, result.rows_affected) == ("success", 3)
    assert count_events(app) == 1
