"""What the session store owes the database (web.identity.session_sync): applied by the job, by the next
request of a process that may owe something, never served from the fast path meanwhile, counted on /metrics.

The rows here are written as a process that died right after its commit would leave them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import insert, select, update

from tests.support.clients import ApiClient
from tests.support.factories import Factories
from tests.support.state import index_rows
from web.extensions import db
from web.identity.models import PendingSessionChange, Role, User
from web.identity.session_sync import settle_all
from web.platform.models import utcnow
from web.platform.session_store import base


@pytest.fixture(autouse=True)
def _nothing_owed() -> Iterator[None]:
    base.settle_changes_owed()
    yield
    base.settle_changes_owed()


def owe(app: Flask, user_id: int, sid_hash: str | None = None) -> None:
    """A change committed with its pending row, the store never told (the process died)."""
    with app.app_context():
        db.session.execute(insert(PendingSessionChange).values(user_id=user_id, sid_hash=sid_hash, created_at=utcnow()))
        db.session.commit()
        db.session.remove()


def pending(app: Flask) -> int:
    with app.app_context():
        count = len(db.session.scalars(select(PendingSessionChange.id)).all())
        db.session.remove()
    return count


def deactivate_behind_the_stores_back(app: Flask, user_id: int) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(is_active=False))
        db.session.commit()
        db.session.remove()


def test_the_job_applies_what_a_dead_process_left_owed(app: Flask, make: Factories, browser) -> None:
    user, other = make.user(role=Role.ADMIN), make.user()
    client: ApiClient = browser()
    client.login(user.email)
    bystander: ApiClient = browser()
    bystander.login(other.email)
    deactivate_behind_the_stores_back(app, user.id)
    owe(app, user.id)

    with app.app_context():
        assert settle_all() == 1
        db.session.remove()

    assert pending(app) == 0
    assert index_rows(app, user.id) == []
    assert client.get("/api/me").status_code == 401
    assert bystander.get("/api/me").status_code == 200


def test_a_process_that_may_owe_settles_before_serving_even_the_fast_path(app: Flask, make: Factories, browser) -> None:
    user = make.user()
    client: ApiClient = browser()
    client.login(user.email)
    assert client.get("/api/deals/current").status_code == 200
    [row] = index_rows(app, user.id)
    owe(app, user.id, row.sid_hash)  # a revocation recorded, the destroy never sent
    base.mark_changes_owed()  # as after the store failed and came back

    # GET /api/deals/current is answered before Flask when nothing is owed; now Flask settles first.
    assert client.get("/api/deals/current").status_code == 401
    assert pending(app) == 0
    assert not base.changes_owed()


def test_nothing_owed_costs_no_query(app: Flask, make: Factories, browser, count_queries) -> None:
    user = make.user()
    client: ApiClient = browser()
    client.login(user.email)
    client.get("/api/me")
    with count_queries() as log:
        assert client.get("/api/me").status_code == 200
    assert log.app_statements == []


def test_metrics_count_the_pending_changes(app: Flask, make: Factories) -> None:
    user = make.user()
    owe(app, user.id)
    owe(app, user.id)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "session_changes_pending 2.0" in text
    assert "session_changes_pending_oldest_seconds" in text
