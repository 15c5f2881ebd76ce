"""Changes to other people's sessions, recorded in the database first and owed by the session store until applied.

Deactivating a user, changing a password, revoking a session, changing a role, deleting a
deal or removing a member all change the database and then live sessions (destroyed, or
their cached role and deal context rewritten). The two stores cannot commit together, so
the change and what the sessions owe it are committed together instead: the service adds
rows to ``pending_session_changes`` (``PendingSessionChange``) in its own transaction,
commits, and applies them at once (``apply_pending``). A row is deleted only after the store
took the change; if the store fails, the row stays, the caller answers 503
``session_store_unavailable`` and the change is applied later:

* by the next request this process serves (``apply_before_serving``): a process that failed
  to apply, or saw the store fail and come back, applies what is owed before it serves
  anyone, so a revoked session is refused from its first request after the store is back;
* by the ``session_sync`` job (``SESSION_SYNC_CRON``, every minute) for the other processes;
* by a retry of the same request, which applies whatever that user is still owed.

Applying is idempotent and reads the user's *current* row, so it can run late, twice or
after later changes: a deactivated user's sessions are destroyed; an active user's sessions
get the role and the deal context (``web.deal_context.state.reset_to_state``) the database
holds now. The count of pending rows and the oldest one's age are in the health document and
on /metrics (``dealdesk_session_changes_pending``).

Functions (each that takes ``db_session`` owns its transaction unless it says "adds"):

``owe_user_sync(db_session, user_ids)``: adds "bring these users' sessions in line" rows.
``owe_destroy(db_session, *, user_id, sid_hashes)``: adds "destroy these sessions" rows.
``apply_pending(db_session, *, user_ids=None) -> int``: apply (those users', or all) pending rows; commits.
``revoke_session(db_session, *, public_id, user_id=None, client=None) -> str | None``: revoke one session.
``revoke_own_session(...) -> Revocation`` and ``revoke_all_sessions(...) -> int``: as their names say.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from enum import Enum
from typing import Any

from flask import Flask, current_app, g, request, session
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from web.audit.service import record_event
from web.deal_context.state import ContextState, reset_to_state
from web.extensions import db
from web.identity.models import PendingSessionChange, User, UserSession
from web.identity.session_index import ROLE_KEY, live_store
from web.platform.client import ClientInfo
from web.platform.health.checks import health_engine
from web.platform.models import utcnow
from web.platform.read_requests import begin_writing
from web.platform.session_store.base import (
    Transform,
    changes_owed,
    hash_session_id,
    mark_changes_owed,
    settle_changes_owed,
)

log = logging.getLogger(__name__)

# How many rows one application takes: a long backlog is worked off over several calls.
APPLY_BATCH = 500


# --- Recording what the store owes ----------------------------------------------------------------


def owe_user_sync(db_session: Session, user_ids: Iterable[int]) -> None:
    """Adds, in the caller's transaction: these users' live sessions must be brought in line with their rows."""
    rows = [{"user_id": user_id, "sid_hash": None, "created_at": utcnow()} for user_id in sorted(set(user_ids))]
    _owe(db_session, rows)


def owe_destroy(db_session: Session, *, user_id: int, sid_hashes: Iterable[str]) -> None:
    """Adds, in the caller's transaction: these sessions of the user must be destroyed."""
    rows = [{"user_id": user_id, "sid_hash": sid_hash, "created_at": utcnow()} for sid_hash in sid_hashes]
    _owe(db_session, rows)


def _owe(db_session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    db_session.execute(insert(PendingSessionChange), rows)
    # Until they are applied (normally right after the commit), this process's next request
    # settles them first, whatever failed meanwhile; the job settles them for the other processes.
    mark_changes_owed(*{row["user_id"] for row in rows})


# --- Applying ---------------------------------------------------------------------------------------


def apply_pending(db_session: Session, *, user_ids: Iterable[int] | None = None) -> int:
    """Apply pending rows (of these users, or all) to the store and delete them; returns how many were applied.

    A failure leaves every row in place (applying is idempotent) and is raised for the caller
    to answer 503; this process stays marked as owing those users (``mark_changes_owed``) until
    their rows are applied, here or by a full pass (``apply_before_serving``).
    """
    # Also from a GET (apply_before_serving): reading, applying and deleting in one transaction.
    begin_writing(db_session)
    query = select(PendingSessionChange).order_by(PendingSessionChange.id).limit(APPLY_BATCH)
    ids = sorted(set(user_ids)) if user_ids is not None else []
    if user_ids is not None:
        if not ids:
            return 0
        query = query.where(PendingSessionChange.user_id.in_(ids))
    rows = db_session.scalars(query).all()
    if not rows:
        if user_ids is not None:
            settle_changes_owed(*ids)
        return 0
    try:
        destroyed = _apply(db_session, rows)
    except BaseException:
        db_session.rollback()
        # Still owed (marked again: a full pass in another thread may have cleared the marks meanwhile).
        mark_changes_owed(*{row.user_id for row in rows})
        raise
    if destroyed:
        db_session.execute(delete(UserSession).where(UserSession.sid_hash.in_(destroyed)))
    db_session.execute(delete(PendingSessionChange).where(PendingSessionChange.id.in_([row.id for row in rows])))
    db_session.commit()
    if user_ids is not None and len(rows) < APPLY_BATCH:
        settle_changes_owed(*ids)  # everything these users were owed is applied
    return len(rows)


def _apply(db_session: Session, rows: Iterable[PendingSessionChange]) -> list[str]:
    """Make the store hold what the rows say; returns the id hashes of the sessions destroyed."""
    store = live_store()
    destroyed: list[str] = []
    synced: set[int] = set()
    for row in rows:
        if row.sid_hash is not None:
            store.destroy_session(row.sid_hash)
            destroyed.append(row.sid_hash)
        elif row.user_id not in synced:
            synced.add(row.user_id)
            destroyed.extend(_sync_user(db_session, row.user_id))
    return destroyed


def _sync_user(db_session: Session, user_id: int) -> list[str]:
    """Bring one user's live sessions in line with the user's row now; returns the hashes destroyed."""
    store = live_store()
    user = db_session.execute(
        select(User.is_active, User.role, User.deal_context_version, User.last_deal_id).where(User.id == user_id)
    ).first()
    hashes = list(db_session.scalars(select(UserSession.sid_hash).where(UserSession.user_id == user_id)))
    if user is None or not user.is_active:
        for sid_hash in hashes:
            store.destroy_session(sid_hash)
        return hashes
    transform = _in_line_with(user.role.value, ContextState(int(user.deal_context_version), user.last_deal_id))
    for sid_hash in hashes:
        store.rewrite_session(sid_hash, transform)
    return []


def _in_line_with(role: str, state: ContextState) -> Transform:
    """A session rewrite: the cached role and the deal context as the user's row has them (None: nothing to do)."""
    reset_context = reset_to_state(state)

    def transform(stored: dict[str, Any]) -> dict[str, Any] | None:
        changed = False
        if ROLE_KEY in stored and stored[ROLE_KEY] != role:
            stored[ROLE_KEY] = role
            changed = True
        result = reset_context(stored)
        if result is not None:
            return result
        return stored if changed else None

    return transform


# --- Revocations -------------------------------------------------------------------------------------


def _audit(db_session: Session, user_id: int, action: str, client: ClientInfo, count: int) -> None:
    organization_id = db_session.scalar(select(User.organization_id).where(User.id == user_id))
    if organization_id is not None:
        record_event(
            db_session,
            organization_id=organization_id,
            user_id=user_id,
            action=action,
            client=client,
            details={"sessions": count},
        )


def _already_owed(db_session: Session, sid_hashes: list[str]) -> set[str]:
    """Which of these sessions a revocation already recorded (and the store has not yet taken)."""
    if not sid_hashes:
        return set()
    return set(
        db_session.scalars(select(PendingSessionChange.sid_hash).where(PendingSessionChange.sid_hash.in_(sid_hashes)))
    )


def revoke_session(
    db_session: Session, *, public_id: str, user_id: int | None = None, client: ClientInfo | None = None
) -> str | None:
    """Revoke one session by its public id (only among ``user_id``'s when given); returns its id hash, or None.

    The index row stays until the store has destroyed the session, so a retry after a 503
    finds it again and finishes the job (recorded and audited once).
    """
    query = select(UserSession.sid_hash, UserSession.user_id).where(UserSession.public_id == public_id)
    if user_id is not None:
        query = query.where(UserSession.user_id == user_id)
    row = db_session.execute(query).first()
    if row is None:
        return None
    if not _already_owed(db_session, [row.sid_hash]):
        owe_destroy(db_session, user_id=row.user_id, sid_hashes=[row.sid_hash])
        _audit(db_session, row.user_id, "session.revoke", client or ClientInfo(), 1)
    db_session.commit()
    apply_pending(db_session, user_ids=[row.user_id])
    return str(row.sid_hash)


class Revocation(Enum):
    """What a user's revoking one of their own sessions came to."""

    NOT_FOUND = "not_found"
    OTHER_SESSION = "other_session"
    # The session making the request: revoking it is signing out, so the caller ends it now.
    THIS_SESSION = "this_session"


def revoke_own_session(
    db_session: Session, *, public_id: str, user_id: int, current_session_id: str | None, client: ClientInfo
) -> Revocation:
    """The API's and the settings page's "sign out that session": only among ``user_id``'s own sessions.

    The requesting session itself is not revoked here: the caller signs out instead.
    """
    row = db_session.execute(
        select(UserSession.sid_hash).where(UserSession.public_id == public_id, UserSession.user_id == user_id)
    ).first()
    db_session.rollback()  # end the read transaction; revoke_session or the sign-out own theirs
    if row is None:
        return Revocation.NOT_FOUND
    if current_session_id is not None and row.sid_hash == hash_session_id(current_session_id):
        return Revocation.THIS_SESSION
    revoke_session(db_session, public_id=public_id, user_id=user_id, client=client)
    return Revocation.OTHER_SESSION


def revoke_all_sessions(
    db_session: Session, *, user_id: int, keep_session_id: str | None = None, client: ClientInfo | None = None
) -> int:
    """Revoke every session of the user except ``keep_session_id``'s; returns how many were revoked."""
    query = select(UserSession.sid_hash).where(UserSession.user_id == user_id)
    if keep_session_id is not None:
        query = query.where(UserSession.sid_hash != hash_session_id(keep_session_id))
    hashes = list(db_session.scalars(query))
    owed = _already_owed(db_session, hashes)
    new = [sid_hash for sid_hash in hashes if sid_hash not in owed]
    if new:
        owe_destroy(db_session, user_id=user_id, sid_hashes=new)
        _audit(db_session, user_id, "session.revoke_all", client or ClientInfo(), len(new))
    db_session.commit()
    apply_pending(db_session, user_ids=[user_id])
    return len(hashes)


# --- In the running app ---------------------------------------------------------------------------------


def pending_summary(executor: Session | Connection) -> tuple[int, datetime | None]:
    """How many changes the store owes, and since when the oldest (for health and metrics)."""
    count, oldest = executor.execute(
        select(func.count(PendingSessionChange.id), func.min(PendingSessionChange.created_at))
    ).one()
    return int(count), oldest


def settle_all(*, progress: Callable[[int], None] | None = None) -> int:
    """The ``session_sync`` job: apply everything the store owes, batch after batch; returns how many."""
    applied = 0
    while True:
        batch = apply_pending(db.session)
        applied += batch
        if progress is not None:
            progress(applied)
        if batch < APPLY_BATCH:
            return applied


class PendingSessionChangesCollector(Collector):
    """``session_changes_pending`` and the oldest one's age on /metrics, read from the database when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with health_engine(current_app._get_current_object()).connect() as conn:  # type: ignore[attr-defined]
                count, oldest = pending_summary(conn)
        except Exception as exc:
            log.warning("pending session changes unavailable for /metrics: %s: %s", type(exc).__name__, exc)
            return
        yield GaugeMetricFamily(
            "session_changes_pending",
            "Changes the database recorded that the session store has not yet taken (web.identity.session_sync).",
            value=count,
        )
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "session_changes_pending_oldest_seconds",
            "Age of the oldest pending session change (0 when none).",
            value=age,
        )


def apply_before_serving() -> None:
    """``before_request``: a process that may owe the store changes applies them before it serves anyone.

    Costs nothing (no query) unless this process failed to apply or saw the store come back.
    When something was applied, the request's session is read again: it may be one that
    was just destroyed or rewritten.
    """
    if not changes_owed() or request.path in current_app.session_interface.sessionless_paths:  # type: ignore[attr-defined]
        return
    applied = settle_all()
    settle_changes_owed()
    if applied:
        log.info("applied %d session change(s) the store owed", applied)
        _reopen_session()


def _reopen_session() -> None:
    live_store().refresh(session)  # type: ignore[arg-type]
    g.pop("_login_user", None)  # Flask-Login's per-request cache of the user, read from the old session


def register_session_sync(app: Flask) -> None:
    """Apply owed changes before serving, when this process may owe some (``changes_owed``).

    Registered before the CSRF check and the sign-in check read the session, so both see the reread one.
    """
    app.before_request(apply_before_serving)
