"""The cleanup job bodies: plain functions, run inside an app context, returning rows affected.

The scheduler calls them through ``web.jobs.runner.run_job`` (lock, ``job_runs``
row, metrics); the CLI does the same; tests call them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Engine, delete, exists, select, update

from web.extensions import db
from web.models import Deal, SessionRecord, User, UserSession, utcnow
from web.permissions import visible_deals_clause

DEFAULT_BATCH_SIZE = 5000


def _delete_in_batches(
    engine: Engine,
    model: Any,
    condition: Any,
    *,
    batch_size: int,
    progress: Callable[[int], None] | None,
    done_before: int,
) -> int:
    """Delete matching rows a batch per statement and transaction, so no statement holds locks for long."""
    deleted = 0
    while True:
        batch = select(model.id).where(condition).order_by(model.id).limit(batch_size)
        with engine.begin() as conn:
            count = conn.execute(delete(model).where(model.id.in_(batch))).rowcount
        deleted += count
        if progress is not None and count:
            progress(done_before + deleted)
        if count < batch_size:
            return deleted


def cleanup_expired_sessions(
    *, now: datetime | None = None, batch_size: int | None = None, progress: Callable[[int], None] | None = None
) -> int:
    """Delete expired rows of the SQL session table and of the per-user session index.

    Redis expires its own keys; the ``sessions`` table is still swept when Redis is the
    backend, since rows from an earlier SQL deployment would otherwise stay forever.
    """
    cutoff = now or utcnow()
    size = int(batch_size or current_app.config.get("SESSION_CLEANUP_BATCH_SIZE", DEFAULT_BATCH_SIZE))
    engine = db.engine
    sessions = _delete_in_batches(
        engine, SessionRecord, SessionRecord.expiry <= cutoff, batch_size=size, progress=progress, done_before=0
    )
    index_rows = _delete_in_batches(
        engine, UserSession, UserSession.expires_at <= cutoff, batch_size=size, progress=progress, done_before=sessions
    )
    return sessions + index_rows


def clear_stale_deals(*, progress: Callable[[int], None] | None = None) -> int:
    """Clear ``users.last_deal_id`` where the deal is deleted or no longer visible to that user.

    One set-based UPDATE with the same visibility rule as every other path
    (``visible_deals_clause``); the context version goes up so sessions holding
    the stale deal converge on the cleared one.
    """
    still_visible = exists().where(Deal.id == User.last_deal_id, visible_deals_clause(User.id)).correlate_except(Deal)
    statement = (
        update(User)
        .where(User.last_deal_id.is_not(None), ~still_visible)
        .values(last_deal_id=None, deal_context_version=User.deal_context_version + 1, updated_at=utcnow())
    )
    with db.engine.begin() as conn:
        cleared = conn.execute(statement).rowcount
    if progress is not None and cleared:
        progress(cleared)
    return cleared
