"""The per-user session index, and changes that reach live sessions through it.

Each sign-in records a ``UserSession`` row: a random public id (what the API and
the CLI show), the SHA-256 of the session id (never the id itself), when it was
created and last seen, its expiry, ip and user agent. The session store keys a
session by the same hash, so the index reaches a live session without knowing
its id. Everything that must take effect in live sessions goes through here, in
the same operation as the change, so warm requests never need to ask the database.

Functions (every ``db_session`` function owns its transaction and commits):

``record_sign_in(db_session, *, user_id, session_id, client, expires_at, replaces_session_id=None)``
    -> ``UserSession | None``: index a new sign-in; None when the user was deactivated meanwhile.
``forget_session(db_session, *, session_id) -> None``: sign-out removes the row.
``record_activity(engine, sid_hash, expires_at) -> None``: "last seen" and the new expiry; the session
    layer calls it only when it extends a session's lifetime, at most once per touch interval.
``list_user_sessions(db_session, user_id) -> list[UserSession]``: live sessions, most recently seen first; rows
    whose session the store no longer holds are left out and deleted.
``forget_cached_deal(db_session, *, deal_id, user_ids) -> int``: drop a changed deal's cached copy from
    those users' live sessions (``web.deal_context.state.without_cached_deal``).

Revocations and the other changes the database records for live sessions go through
``web.identity.session_sync`` (recorded with the change, applied to the store after the commit).

The functions that reach live sessions need an application context (they use the
app's session interface); views, the CLI and jobs all have one.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Engine, Select, String, bindparam, delete, insert, literal, select, update
from sqlalchemy.orm import Session

from web.deal_context.state import without_cached_deal
from web.identity.models import User, UserSession
from web.platform.client import ClientInfo
from web.platform.models import UTCDateTime, utcnow
from web.platform.read_requests import begin_writing
from web.platform.session_store import MergingSessionInterface
from web.platform.session_store.base import Transform, hash_session_id
from web.platform.session_store.sql_store import STORE_EXECUTION_TAG

log = logging.getLogger(__name__)

PUBLIC_ID_BYTES = 16  # 22 URL-safe characters
ROLE_KEY = "user_role"


def live_store() -> MergingSessionInterface:
    """The running app's session interface: the only way to reach sessions by their id hash."""
    interface = current_app.session_interface
    if not isinstance(interface, MergingSessionInterface):
        raise RuntimeError("the app does not use DealDesk's session interface")
    return interface


# --- Recording ----------------------------------------------------------------------------------


def record_sign_in(
    db_session: Session,
    *,
    user_id: int,
    session_id: str,
    client: ClientInfo,
    expires_at: datetime,
    replaces_session_id: str | None = None,
) -> UserSession | None:
    """Index a new signed-in session; None when the user is no longer active.

    One INSERT ... SELECT that requires the user to be active, holding a share lock
    on the user row (PostgreSQL): a deactivation either commits first (and nothing
    is indexed) or waits, and then finds this row when it destroys the user's sessions.
    """
    if replaces_session_id is not None:
        db_session.execute(delete(UserSession).where(UserSession.sid_hash == hash_session_id(replaces_session_id)))
    now = utcnow()
    public_id = secrets.token_urlsafe(PUBLIC_ID_BYTES)
    source = (
        select(
            literal(public_id, String(32)),
            User.id,
            literal(hash_session_id(session_id), String(64)),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
            literal(expires_at, UTCDateTime()),
            literal(client.ip and client.ip[:64], String(64)),
            literal(client.user_agent and client.user_agent[:512], String(512)),
        )
        .where(User.id == user_id, User.is_active.is_(True))
        .with_for_update(read=True)
    )
    columns = ["public_id", "user_id", "sid_hash", "created_at", "last_seen_at", "expires_at", "ip", "user_agent"]
    row_id = db_session.execute(
        insert(UserSession).from_select(columns, source).returning(UserSession.id)
    ).scalar_one_or_none()
    db_session.commit()
    return None if row_id is None else db_session.get(UserSession, row_id)


def forget_session(db_session: Session, *, session_id: str) -> None:
    """Sign-out: the session is gone, so is its row."""
    db_session.execute(delete(UserSession).where(UserSession.sid_hash == hash_session_id(session_id)))
    db_session.commit()


def record_activity(engine: Engine, sid_hash: str, expires_at: datetime) -> None:
    """Last seen now, expiring with the session; on its own short transaction."""
    # Tagged as session-store work, as the store's own statements are: query counters tell them apart.
    with engine.connect() as conn, conn.execution_options(**STORE_EXECUTION_TAG).begin():
        conn.execute(
            update(UserSession)
            .where(UserSession.sid_hash == sid_hash)
            .values(last_seen_at=utcnow(), expires_at=expires_at)
        )


# --- Listing and revoking -----------------------------------------------------------------------


@functools.cache
def _live_sessions_statement() -> Select[tuple[UserSession]]:
    # Built once with bound parameters: built per call, SQLAlchemy would compute its cache key every time.
    return (
        select(UserSession)
        .where(UserSession.user_id == bindparam("user_id"), UserSession.expires_at > bindparam("now"))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )


def list_user_sessions(db_session: Session, user_id: int) -> list[UserSession]:
    """The user's live sessions, most recently seen first.

    An index row whose session the store no longer holds (a Redis restarted without
    its data, a key evicted) is not a device that is signed in: it is left out, and
    forgotten so that changes stop being sent to it.
    """
    rows = list(db_session.scalars(_live_sessions_statement(), {"user_id": user_id, "now": utcnow()}))
    hashes = [row.sid_hash for row in rows]
    store = live_store()
    try:
        live = store.live_hashes(hashes) if rows else set()
    except store.store_errors():
        live = set(hashes)  # the store cannot say: list every indexed session, forget none
    listed = [row for row in rows if row.sid_hash in live]
    gone = [row.id for row in rows if row.sid_hash not in live]
    if gone:
        for row in listed:
            db_session.expunge(row)  # as read: the commit would expire them and each would be read again
        begin_writing(db_session)  # a GET: the delete in a transaction of its own, as elsewhere
        db_session.execute(delete(UserSession).where(UserSession.id.in_(gone)))
        db_session.commit()
    return listed


def is_current(row: UserSession, session_id: str | None) -> bool:
    return session_id is not None and row.sid_hash == hash_session_id(session_id)


# --- Propagating changes into live sessions ------------------------------------------------------


class _Counting:
    """Wraps a transform to remember whether its last call (the one that was written) changed anything."""

    def __init__(self, transform: Transform) -> None:
        self.transform = transform
        self.changed = False

    def __call__(self, stored: dict[str, Any]) -> dict[str, Any] | None:
        result = self.transform(stored)
        self.changed = result is not None
        return result


def _rewrite_sessions(db_session: Session, user_ids: Iterable[int], transform_for: Callable[[int], Transform]) -> int:
    """Apply a per-user transform to each indexed live session of these users; returns how many changed."""
    ids = sorted(set(user_ids))
    if not ids:
        return 0
    rows = db_session.execute(
        select(UserSession.user_id, UserSession.sid_hash).where(UserSession.user_id.in_(ids))
    ).all()
    store = live_store()
    changed = 0
    for row in rows:
        counting = _Counting(transform_for(row.user_id))
        if store.rewrite_session(row.sid_hash, counting) and counting.changed:
            changed += 1
    return changed


def forget_cached_deal(db_session: Session, *, deal_id: int, user_ids: Iterable[int]) -> int:
    """After a deal changed: drop its cached copy from these users' live sessions; returns how many changed."""
    transform = without_cached_deal(deal_id)
    return _rewrite_sessions(db_session, user_ids, lambda _user_id: transform)
