"""The audit trail: recording events inside the caller's transaction, reading it a page at a time, retention."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import FromClause

from web.audit.models import AuditEvent
from web.deals.models import Deal
from web.domain_errors import Invalid
from web.identity.models import User
from web.platform.client import ClientInfo
from web.platform.models import utcnow


def record_event(
    db_session: Session,
    *,
    organization_id: int,
    user_id: int | None,
    action: str,
    client: ClientInfo,
    deal_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add the event to the caller's unit of work: it is inserted with the rest at the flush, and commits with it."""
    event = AuditEvent(**event_values(organization_id, user_id, action, client, deal_id, details))
    db_session.add(event)
    return event


def event_values(
    organization_id: int,
    user_id: int | None,
    action: str,
    client: ClientInfo,
    deal_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event's columns but ``id`` and ``created_at``, as ``write_event`` and ``insert_event_from`` take them."""
    return {
        "organization_id": organization_id,
        "user_id": user_id,
        "action": action,
        "deal_id": deal_id,
        "ip": (client.ip or None) and client.ip[:64],
        "user_agent": (client.user_agent or None) and client.user_agent[:512],
        "details": details or {},
    }


def write_event(connection: Connection, values: dict[str, Any]) -> None:
    """``record_event`` sent now, as one Core INSERT on the caller's connection (in its transaction).

    For the select and the clear, which have nothing else to flush: the unit of work's
    bookkeeping for one new row cost more CPU than the INSERT's round trip.
    """
    connection.execute(_insert_event_statement(), {**values, "created_at": utcnow()})


@functools.cache
def _insert_event_statement() -> Insert:
    return insert(AuditEvent.__table__)


_BOUND_COLUMNS = ("organization_id", "user_id", "action", "deal_id", "ip", "user_agent", "details")
# The parameters of ``insert_event_from`` carry this prefix: in a statement that also updates a
# table, a parameter named after one of its columns (``organization_id``) would join the SET clause.
_BOUND_PREFIX = "event_"


def insert_event_from(rows: FromClause) -> Insert:
    """An INSERT of one event per row of ``rows`` (a CTE, say); ``event_parameters`` and ``now`` are its parameters.

    For a statement that records its event only when it changed something, in the same round trip.
    """
    events = AuditEvent.__table__
    bound = [bindparam(_BOUND_PREFIX + name, type_=events.c[name].type) for name in _BOUND_COLUMNS]
    source = select(*bound, bindparam("now", type_=events.c.created_at.type)).select_from(rows)
    return insert(events).from_select([*_BOUND_COLUMNS, "created_at"], source)


def event_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """``event_values`` as ``insert_event_from`` binds them."""
    return {_BOUND_PREFIX + name: value for name, value in values.items()}


def record_deal_event(
    db_session: Session,
    deal: Deal,
    *,
    user_id: int,
    action: str,
    client: ClientInfo,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event about ``deal``, recorded in the deal's organization."""
    return record_event(
        db_session,
        organization_id=deal.organization_id,
        user_id=user_id,
        action=action,
        client=client,
        deal_id=deal.id,
        details=details,
    )


# <microseconds since the epoch>-<event id>: at most 18 digits reach datetime's year 9999, and the
# id must fit audit_events.id, a 32-bit INTEGER. A bigger number was a 500 on SQLite (OverflowError
# binding it) and compared as numeric on PostgreSQL; now every database answers 422.
_CURSOR = re.compile(r"^[0-9]{1,18}-0*[0-9]{1,10}$")
MAX_EVENT_ID = 2**31 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Bounds one purge run; the next run carries on where this one stopped.
PURGE_MAX_BATCHES = 1000


@dataclass(frozen=True)
class Cursor:
    """A position in the trail: the last event a page showed, by (created_at, id)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.created_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.id}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Parse ``<microseconds since the epoch>-<event id>``; 422 when it is not one or is out of range."""
        if not _CURSOR.match(value):
            raise Invalid({"before": "Bad cursor."})
        micros, event_id = (int(part) for part in value.split("-"))
        if not 1 <= event_id <= MAX_EVENT_ID:
            raise Invalid({"before": "Bad cursor."})
        try:
            created_at = EPOCH + timedelta(microseconds=micros)
        except OverflowError as exc:
            raise Invalid({"before": "Bad cursor."}) from exc
        return cls(created_at, event_id)


@dataclass(frozen=True)
class AuditFilter:
    organization_id: int
    user_id: int | None = None
    deal_id: int | None = None
    action: str | None = None
    before: Cursor | None = None


# The other person an event is about (a member added or removed, a user whose role changed), by the id
# its details record: joined in SQL so that a page names them without a query per row.
SUBJECT = aliased(User, name="subject")
SUBJECT_ID = func.coalesce(
    AuditEvent.details["member_user_id"].as_integer(), AuditEvent.details["target_user_id"].as_integer()
)

# One row of a page: the event's columns, with its user's email, its deal's name (and whether that deal
# is deleted) and its subject's email joined in; each None once the user, deal or subject is gone.
EVENT_COLUMNS = (
    AuditEvent.id,
    AuditEvent.created_at,
    AuditEvent.action,
    AuditEvent.user_id,
    User.email.label("user_email"),
    AuditEvent.deal_id,
    AuditEvent.ip,
    AuditEvent.user_agent,
    AuditEvent.details,
    Deal.name.label("deal_name"),
    Deal.deleted_at.label("deal_deleted_at"),
    SUBJECT.email.label("subject_email"),
)


def events_with_names() -> Select[Any]:
    """Events with the names they mention (EVENT_COLUMNS), newest first; the users and the deal are joined
    only within the event's own organization, so no filter can name someone of another one."""
    same_organization = AuditEvent.organization_id
    return (
        select(*EVENT_COLUMNS)
        .outerjoin(User, and_(User.id == AuditEvent.user_id, User.organization_id == same_organization))
        .outerjoin(Deal, and_(Deal.id == AuditEvent.deal_id, Deal.organization_id == same_organization))
        .outerjoin(SUBJECT, and_(SUBJECT.id == SUBJECT_ID, SUBJECT.organization_id == same_organization))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )


def before_cursor() -> ColumnElement[bool]:
    """Events strictly older than the cursor bound as ``before_created_at`` and ``before_id``."""
    created_at = bindparam("before_created_at", type_=AuditEvent.created_at.type)
    return or_(
        AuditEvent.created_at < created_at,
        and_(AuditEvent.created_at == created_at, AuditEvent.id < bindparam("before_id")),
    )


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[Row[Any]]  # plain rows with the columns of EVENT_COLUMNS, by name
    next_before: str | None


@functools.cache
def page_statement(*, by_user: bool, by_deal: bool, by_action: bool, after_cursor: bool) -> Select[Any]:
    """The page query for one combination of filters, built once with bound parameters.

    Plain rows, not ORM objects: a page is only serialised, and loading AuditEvent objects
    (then expired by the commit that ends the read) cost one SELECT per event. Sixteen
    combinations at most, so building each once saves rebuilding the expression per request.
    """
    query = events_with_names().where(AuditEvent.organization_id == bindparam("organization_id"))
    query = query.limit(bindparam("limit"))
    if by_user:
        query = query.where(AuditEvent.user_id == bindparam("user_id"))
    if by_deal:
        query = query.where(AuditEvent.deal_id == bindparam("deal_id"))
    if by_action:
        query = query.where(AuditEvent.action == bindparam("action"))
    if after_cursor:
        query = query.where(before_cursor())
    return query


def page_parameters(where: AuditFilter, limit: int) -> dict[str, Any]:
    """The bound values of ``page_statement`` for these filters; one row more than the page asks for."""
    params: dict[str, Any] = {
        "organization_id": where.organization_id,
        "limit": limit + 1,  # one more than the page tells whether there is a next one
    }
    if where.user_id is not None:
        params["user_id"] = where.user_id
    if where.deal_id is not None:
        params["deal_id"] = where.deal_id
    if where.action is not None:
        params["action"] = where.action
    if where.before is not None:
        params.update(before_created_at=where.before.created_at, before_id=where.before.id)
    return params


def page_statement_for(where: AuditFilter) -> Select[Any]:
    return page_statement(
        by_user=where.user_id is not None,
        by_deal=where.deal_id is not None,
        by_action=where.action is not None,
        after_cursor=where.before is not None,
    )


def page_of(rows: Sequence[Row[Any]], limit: int) -> AuditPage:
    """The first ``limit`` rows as a page, with the cursor to the next when there were more."""
    page, more = rows[:limit], len(rows) > limit
    next_before = Cursor(page[-1].created_at, page[-1].id).encode() if more else None
    return AuditPage(events=page, next_before=next_before)


def list_events(db_session: Session, *, where: AuditFilter, limit: int) -> AuditPage:
    """One page of an organization's events, newest first; ``next_before`` is None on the last page.

    Ordered by (created_at, id) descending, and the cursor is that pair, so pages
    never skip or repeat an event however many are written meanwhile. One statement.
    """
    rows = db_session.execute(page_statement_for(where), page_parameters(where, limit)).all()
    db_session.commit()  # end the read transaction
    return page_of(rows, limit)


def purge_old_events(
    db_session: Session,
    *,
    keep_days: float,
    batch_size: int,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete events older than ``keep_days``, ``batch_size`` rows per transaction; returns how many.

    Small batches keep each transaction (and its locks) short on a large table;
    ``progress(deleted_so_far)`` is called after each one.
    """
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    deleted = 0
    for _ in range(PURGE_MAX_BATCHES):
        ids = list(
            db_session.scalars(
                select(AuditEvent.id).where(AuditEvent.created_at < cutoff).order_by(AuditEvent.id).limit(batch_size)
            )
        )
        if not ids:
            break
        db_session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        db_session.commit()
        deleted += len(ids)
        if progress is not None:
            progress(deleted)
        if len(ids) < batch_size:
            break
    db_session.commit()
    return deleted
