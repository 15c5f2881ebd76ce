"""The cleanup job bodies: plain functions, run inside an app context, returning rows affected.

The scheduler calls them through ``web.jobs.runner.run_job`` (lock, ``job_runs``
row, metrics); the CLI does the same; tests call them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Engine, and_, delete, exists, select, update

from web.deals.models import Deal
from web.deals.permissions import visible_deals_clause
from web.extensions import db
from web.identity.models import User, UserSession
from web.platform.models import utcnow
from web.platform.session_store.models import SessionRecord


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
            if engine.dialect.name == "mysql":
                # MariaDB/MySQL refuse LIMIT in an IN subquery (and a subquery on the table being
                # deleted from): read the batch's ids first, then delete those by primary key.
                ids = list(conn.scalars(batch))
                count = conn.execute(delete(model).where(model.id.in_(ids))).rowcount if ids else 0
            else:
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
    size = int(batch_size or current_app.config["SESSION_CLEANUP_BATCH_SIZE"])
    engine = db.engine
    sessions = _delete_in_batches(
        engine, SessionRecord, SessionRecord.expiry <= cutoff, batch_size=size, progress=progress, done_before=0
    )
    index_rows = _delete_in_batches(
        engine, UserSession, UserSession.expires_at <= cutoff, batch_size=size, progress=progress, done_before=sessions
    )
    return sessions + index_rows


def _users_chunk_end(engine: Engine, after: int, size: int) -> int | None:
    """The id of the ``size``-th user after ``after`` (None: fewer are left, the last chunk)."""
    with engine.connect() as conn:
        return conn.scalar(select(User.id).where(User.id > after).order_by(User.id).offset(size - 1).limit(1))


def clear_stale_deals(*, batch_size: int | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Clear ``users.last_deal_id`` where the deal is deleted or no longer visible to that user.

    A set-based UPDATE with the same visibility rule as every other path
    (``visible_deals_clause``), run over consecutive ranges of ``batch_size`` user ids
    (``STALE_DEAL_CLEANUP_BATCH_SIZE``), each in its own short transaction. As
    one statement over a million users it held 100,000 row locks for 25.7 s
    (docs/PERFORMANCE.md); in ranges of 2000 users the longest statement took 0.03 s.
    The context version goes up so sessions holding the stale deal converge on the
    cleared one.
    """
    size = int(batch_size or current_app.config["STALE_DEAL_CLEANUP_BATCH_SIZE"])
    still_visible = exists().where(Deal.id == User.last_deal_id, visible_deals_clause(User.id)).correlate_except(Deal)
    stale = and_(User.last_deal_id.is_not(None), ~still_visible)
    engine, cleared, after = db.engine, 0, 0
    while True:
        end = _users_chunk_end(engine, after, size)
        in_chunk = User.id > after if end is None else and_(User.id > after, User.id <= end)
        statement = (
            update(User)
            .where(in_chunk, stale)
            .values(last_deal_id=None, deal_context_version=User.deal_context_version + 1, updated_at=utcnow())
        )
        with engine.begin() as conn:
            count = conn.execute(statement).rowcount
        cleared += count
        if progress is not None and count:
            progress(cleared)
        if end is None:
            return cleared
        after = end
