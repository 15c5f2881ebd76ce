"""The persistent deal context: selecting, clearing and restoring a user's working deal.

``users.last_deal_id`` is the durable record; every change to it increases
``users.deal_context_version`` in the same UPDATE, and the session keeps the
deal id with that version (``web.deal_context.state.DealContext``) so concurrent
requests converge on the newest choice. The session also caches the deal as the
API shows it, so that a warm ``GET /api/deals/current`` asks the database nothing;
whatever can make a deal invisible or change it rewrites the cache in live
sessions (``web.identity.session_index``).

Why a cached deal is never one the user may no longer see: a selection takes the
lock on the user's row (the UPDATE) *before* it checks visibility, and every change
that can take visibility away (``reset_contexts``) updates the same rows in its own
transaction. Whichever commits second sees the first: a selection that comes second
sees the deal gone and is refused; a change that comes second bumps the version past
the selection's, and the live sessions are rewritten to that version, which any
in-flight save of the older selection cannot overwrite (``DealContext.keeps_stored``, the
session store's merge rule for the context).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Select,
    String,
    Update,
    and_,
    bindparam,
    case,
    exists,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from web.audit.models import AuditEvent
from web.audit.service import event_parameters, event_values, insert_event_from, write_event
from web.deal_context.state import ContextState, DealContext
from web.deals.models import Deal
from web.deals.permissions import get_visible_deal_fields, visible_deals_clause
from web.deals.schemas import DealFields
from web.domain_errors import NotFound
from web.identity.models import User
from web.platform.client import ClientInfo
from web.platform.models import UTCDateTime, utcnow
from web.platform.read_requests import begin_writing

# A restored context carries version 0: lower than any explicit selection, so a
# selection made while a restore is in flight always wins the session merge.
RESTORED_VERSION = 0


# Puts a new context where the user's session sees it before the database commits it, and
# takes it back if the block (the commit) raises: the request side's ``published_context``.
Publish = Callable[[DealContext, DealFields | None], AbstractContextManager[None]]


class RestoreResult(enum.StrEnum):
    RESTORED = "restored"
    DENIED = "denied"
    EMPTY = "empty"


def _write_last_deal(connection: Connection, user_id: int, deal_id: int | None, event: dict[str, Any]) -> int | None:
    """Set ``last_deal_id``, record ``event`` (``audit.service.event_values``) and return the new context version.

    None when ``deal_id`` names no deal at all (nothing is written: the foreign key
    would refuse it). On PostgreSQL this is one statement: the UPDATE ... RETURNING with the
    audit INSERT in a data-modifying CTE over its result. Elsewhere, the UPDATE, then the INSERT.
    """
    parameters = {"user_id": user_id, "deal_id": deal_id, "now": utcnow()}
    if connection.dialect.name == "postgresql":
        statement = _write_last_deal_and_record_statement(deal_id is not None)
        version = connection.execute(statement, {**event_parameters(event), **parameters}).scalar()
        return None if version is None else int(version)
    if connection.dialect.update_returning:
        version = connection.execute(_write_last_deal_statement(deal_id is not None), parameters).scalar()
    else:
        version = _write_last_deal_then_read(connection, parameters)
    if version is None:
        return None
    write_event(connection, event)
    return int(version)


def _write_last_deal_then_read(connection: Connection, parameters: dict[str, Any]) -> int | None:
    """``_write_last_deal`` where UPDATE has no RETURNING (MariaDB, MySQL): the UPDATE, then a read of
    the version it wrote. Still one transaction with the row lock taken first: the UPDATE holds
    the user's row until the commit, so no other change of it can come between the two statements."""
    statement = _write_last_deal_statement(parameters["deal_id"] is not None, returning=False)
    if connection.execute(statement, parameters).rowcount == 0:
        return None
    version = connection.execute(_context_version_statement(), parameters).scalar_one()
    return int(version)


@functools.cache
def _context_version_statement() -> Select[tuple[int]]:
    users = User.__table__
    return select(users.c.deal_context_version).where(users.c.id == bindparam("user_id"))


@functools.cache
def _write_last_deal_statement(checks_deal: bool, returning: bool = True) -> Update:
    # Core and built once: a selection runs it every time, and the ORM's bulk-update
    # bookkeeping and building the statement cost more than the round trip.
    users, deals = User.__table__, Deal.__table__
    statement = update(users).where(users.c.id == bindparam("user_id"))
    if checks_deal:
        statement = statement.where(exists().where(deals.c.id == bindparam("deal_id")))
    statement = statement.values(
        last_deal_id=bindparam("deal_id"),
        deal_context_version=users.c.deal_context_version + 1,
        updated_at=bindparam("now"),
    )
    return statement.returning(users.c.deal_context_version) if returning else statement


@functools.cache
def _write_last_deal_and_record_statement(checks_deal: bool) -> Select[tuple[int]]:
    # WITH written AS (UPDATE users ... RETURNING deal_context_version),
    #      recorded AS (INSERT INTO audit_events (...) SELECT ... FROM written)
    # SELECT deal_context_version FROM written
    # The event is inserted only when the UPDATE wrote a row, and PostgreSQL runs a
    # data-modifying CTE even though the outer SELECT does not read it.
    written = _write_last_deal_statement(checks_deal).cte("written")
    recorded = insert_event_from(written).cte("recorded")
    return select(written.c.deal_context_version).add_cte(recorded)


def select_deal(
    db_session: Session, *, user_id: int, organization_id: int, deal_id: int, client: ClientInfo, publish: Publish
) -> tuple[DealFields, DealContext]:
    """Make a visible deal the user's working deal (idempotent); 404 when not visible.

    The UPDATE comes first: it locks the user's row, so the visibility check that
    follows (a statement of its own, hence a fresh snapshot) sees any change that
    ``reset_contexts`` committed before it, and one still to come must wait for this
    transaction and then bump the version past this selection's.

    The audit event is written with the UPDATE (one statement on PostgreSQL), and a
    deal that is not visible rolls both back. Core statements on the session's connection,
    in its transaction: the select answers with the deal's fields and nothing else, and the
    ORM's loading and unit of work cost more CPU than the round trips (docs/PERFORMANCE.md).
    """
    connection = db_session.connection()
    event = event_values(organization_id, user_id, "deal.select", client, deal_id)
    version = _write_last_deal(connection, user_id, deal_id, event)
    deal = get_visible_deal_fields(connection, deal_id, user_id) if version is not None else None
    if deal is None or version is None:
        db_session.rollback()  # the UPDATE and the event with it
        raise NotFound("Deal not found.")
    context = DealContext(deal.id, version)
    _commit_published(db_session, publish, context, deal)
    return deal, context


def clear_deal(
    db_session: Session, *, user_id: int, organization_id: int, client: ClientInfo, publish: Publish
) -> DealContext:
    connection = db_session.connection()
    event = event_values(organization_id, user_id, "deal.clear", client)
    version = _write_last_deal(connection, user_id, None, event)
    assert version is not None  # the signed-in user's row exists
    context = DealContext(None, version)
    _commit_published(db_session, publish, context, None)
    return context


def _commit_published(db_session: Session, publish: Publish, context: DealContext, deal: DealFields | None) -> None:
    """Commit with the new context published first, so the answer and the database agree whatever fails.

    The session store is written before the commit (a store failure rolls back: nothing
    changed) and the write is withdrawn if the commit fails (nothing changed either; a commit
    that failed after the server applied it leaves the database ahead, and the retry the 503
    asks for converges both).
    """
    try:
        with publish(context, deal):
            db_session.commit()
    except BaseException:
        db_session.rollback()
        raise


def restore_context(db_session: Session, *, user_id: int, client: ClientInfo) -> tuple[RestoreResult, DealContext]:
    """Bring back the user's last deal for a session that has no context yet.

    One statement reads ``last_deal_id``, checks that the deal is still visible and
    records the audit event (``deal.restore`` or ``deal.restore_denied``). Only a
    denied restore needs a second one, to clear the stale reference.
    """
    begin_writing(db_session)  # a GET restores: its statements are one transaction, as in any write
    now = utcnow()
    visible_deal = select(Deal.id).where(Deal.id == User.last_deal_id, visible_deals_clause(User.id)).scalar_subquery()
    source = select(
        User.organization_id,
        User.id,
        case((visible_deal.is_(None), literal("deal.restore_denied")), else_=literal("deal.restore")),
        User.last_deal_id,
        literal(client.ip, String(64)),
        literal(client.user_agent and client.user_agent[:512], String(512)),
        literal({}, JSON()),
        literal(now, UTCDateTime()),
    ).where(User.id == user_id, User.last_deal_id.is_not(None))
    columns = ["organization_id", "user_id", "action", "deal_id", "ip", "user_agent", "details", "created_at"]
    row = db_session.execute(
        insert(AuditEvent).from_select(columns, source).returning(AuditEvent.action, AuditEvent.deal_id)
    ).first()
    if row is None:
        db_session.commit()
        return RestoreResult.EMPTY, DealContext(None, RESTORED_VERSION)
    if row.action == "deal.restore":
        db_session.commit()
        return RestoreResult.RESTORED, DealContext(int(row.deal_id), RESTORED_VERSION)
    # Conditional on the stale value, so a selection made meanwhile is kept.
    db_session.execute(
        update(User)
        .where(and_(User.id == user_id, User.last_deal_id == row.deal_id))
        .values(last_deal_id=None, deal_context_version=User.deal_context_version + 1)
    )
    db_session.commit()
    return RestoreResult.DENIED, DealContext(None, RESTORED_VERSION)


def current_deal(db_session: Session, *, user_id: int, context: DealContext | None) -> DealFields | None:
    """The context's deal if the user may still see it."""
    if context is None or context.deal_id is None:
        return None
    return get_visible_deal_fields(db_session.connection(), context.deal_id, user_id)


def reset_contexts(db_session: Session, user_ids: Iterable[int]) -> dict[int, tuple[int | None, ContextState]]:
    """After a change that may take deals out of these users' sight, in its transaction.

    Every listed user's context version goes up and ``last_deal_id`` is kept only if
    that deal is still visible to them. Returns, per user, the ``last_deal_id`` before
    and the new state; the caller commits and then rewrites the live sessions to the
    new state (``web.identity.session_index.reset_context_in_sessions``). Bumping every
    listed user, not just those whose selection is cleared, is what orders this change
    against a selection in flight (see the module docstring).
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    # Read the old values under the row locks the UPDATE is about to take anyway.
    locked = db_session.execute(select(User.id, User.last_deal_id).where(User.id.in_(ids)).with_for_update())
    before: dict[int, int | None] = {row.id: row.last_deal_id for row in locked}
    still_visible = exists().where(Deal.id == User.last_deal_id, visible_deals_clause(User.id))
    statement = (
        update(User)
        .where(User.id.in_(ids))
        .values(
            last_deal_id=case((still_visible, User.last_deal_id), else_=null()),
            deal_context_version=User.deal_context_version + 1,
        )
    )
    new_state = (User.id, User.deal_context_version, User.last_deal_id)
    if db_session.connection().dialect.update_returning:
        rows = db_session.execute(statement.returning(*new_state)).all()
    else:
        # No UPDATE ... RETURNING (MariaDB, MySQL): the rows are locked above, so a read after the
        # UPDATE in the same transaction sees exactly what it wrote.
        db_session.execute(statement, execution_options={"synchronize_session": False})
        rows = db_session.execute(select(*new_state).where(User.id.in_(ids))).all()
    return {row.id: (before.get(row.id), ContextState(int(row.deal_context_version), row.last_deal_id)) for row in rows}
