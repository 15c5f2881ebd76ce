"""What the audit pages show, each in one statement: the admin page with its pickers, and a deal's activity.

The statements are built once per shape with bound parameters (``functools.cache``), as the other read models.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, literal_column, null, select, true
from sqlalchemy.orm import Session

from web.audit.describe import ACTIVITY_ACTIONS
from web.audit.models import AuditEvent
from web.audit.service import (
    AuditFilter,
    AuditPage,
    Cursor,
    before_cursor,
    events_with_names,
    page_of,
    page_parameters,
    page_statement,
)
from web.deals.models import Deal
from web.deals.permissions import visible_deals_clause
from web.domain_errors import NotFound
from web.identity.models import User


@dataclass(frozen=True)
class PickerOption:
    """A person or a deal the audit page's pickers offer; ``gone`` when deactivated or deleted."""

    id: int
    label: str
    gone: bool


@dataclass(frozen=True)
class AdminAuditPage:
    page: AuditPage
    people: list[PickerOption]
    deals: list[PickerOption]


def _padded(kind: str, **columns: Any) -> Select[Any]:
    """One branch of the page's UNION ALL: ``kind`` and the named columns, NULL in the event columns it lacks."""
    names = ["id", "created_at", "action", "user_id", "user_email", "deal_id", "ip", "user_agent", "details"]
    names += ["deal_name", "deal_deleted_at", "subject_email", "gone"]
    return select(
        literal_column(f"'{kind}'").label("kind"),
        *(columns.get(name, null()).label(name) for name in names),
    )


@functools.cache
def _admin_page_statement(*, by_user: bool, by_deal: bool, by_action: bool, after_cursor: bool) -> Select[Any]:
    """The page of events, then the organization's people and deals for the pickers: one UNION ALL.

    The audit page costs one statement beside the page header (tests/audit/test_audit_statements.py); the
    events branch keeps its order and limit inside a subquery, and the rows are sorted apart in Python.
    """
    events = page_statement(by_user=by_user, by_deal=by_deal, by_action=by_action, after_cursor=after_cursor).subquery(
        "page"
    )
    first = select(literal_column("'event'").label("kind"), *events.c, null().label("gone"))
    people = _padded("person", id=User.id, user_email=User.email, gone=User.is_active.is_(False)).where(
        User.organization_id == bindparam("organization_id")
    )
    deals = _padded("deal", id=Deal.id, deal_name=Deal.name, gone=Deal.deleted_at.is_not(None)).where(
        Deal.organization_id == bindparam("organization_id")
    )
    return first.union_all(people, deals)


def admin_audit_page(db_session: Session, *, where: AuditFilter, limit: int) -> AdminAuditPage:
    """A page of the organization's events with the people and deals to filter by, in one statement."""
    statement = _admin_page_statement(
        by_user=where.user_id is not None,
        by_deal=where.deal_id is not None,
        by_action=where.action is not None,
        after_cursor=where.before is not None,
    )
    rows = db_session.execute(statement, page_parameters(where, limit)).all()
    db_session.commit()  # end the read transaction
    events = sorted(
        (row for row in rows if row.kind == "event"), key=lambda row: (row.created_at, row.id), reverse=True
    )
    people = [PickerOption(row.id, row.user_email, bool(row.gone)) for row in rows if row.kind == "person"]
    deals = [PickerOption(row.id, row.deal_name, bool(row.gone)) for row in rows if row.kind == "deal"]
    return AdminAuditPage(
        page=page_of(events, limit),
        people=sorted(people, key=lambda option: (option.gone, option.label.lower())),
        deals=sorted(deals, key=lambda option: (option.gone, option.label.lower(), option.id)),
    )


# --- A deal's activity feed --------------------------------------------------------------------------

# How many events a deal page shows at first, and each "Show older" page.
ACTIVITY_PAGE_SIZE = 10


@dataclass(frozen=True)
class ActivityEvent:
    """One entry of a deal's activity feed: what ``web.audit.describe.describe`` needs, and where it stands."""

    id: int
    created_at: datetime
    action: str
    user_email: str | None
    deal_name: str | None
    subject_email: str | None
    details: Mapping[str, Any] | None
    deal_deleted_at: datetime | None = None


@dataclass(frozen=True)
class DealActivity:
    deal_id: int
    deal_name: str
    events: Sequence[ActivityEvent]
    next_before: str | None  # the cursor of the next (older) page; None on the last


def deal_activity_events(*, after_cursor: bool = False) -> Select[Any]:
    """What was done to the deal bound as ``deal_id``, newest first, with names (EVENT_COLUMNS): edits, notes,
    members, stage changes; not who selected it (ACTIVITY_ACTIONS leaves out selections and restores)."""
    events = events_with_names().where(
        AuditEvent.deal_id == bindparam("deal_id"), AuditEvent.action.in_(ACTIVITY_ACTIONS)
    )
    return events.where(before_cursor()) if after_cursor else events


def activity_of(deal_id: int, deal_name: str, rows: Sequence[Any], limit: int) -> DealActivity:
    """A feed page from up to ``limit + 1`` event rows (one more tells there is an older page)."""
    page = page_of(rows, limit)
    events = [
        ActivityEvent(
            row.id, row.created_at, row.action, row.user_email, deal_name, row.subject_email, row.details or {}
        )
        for row in page.events
    ]
    return DealActivity(deal_id, deal_name, events, page.next_before)


@functools.cache
def _activity_statement(after_cursor: bool) -> Select[Any]:
    """The deal bound as ``deal_id`` if ``user_id`` may see it, with a page of its activity: one row per event
    (at least one row, the event columns null when there are none), no row when it is not visible."""
    page = deal_activity_events(after_cursor=after_cursor).limit(bindparam("limit")).subquery("activity")
    return (
        select(Deal.id.label("visible_deal_id"), Deal.name.label("visible_deal_name"), *page.c)
        .outerjoin(page, true())
        .where(Deal.id == bindparam("deal_id"), visible_deals_clause(bindparam("user_id")))
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


def deal_activity(
    db_session: Session, *, user_id: int, deal_id: int, before: Cursor | None = None, limit: int = ACTIVITY_PAGE_SIZE
) -> DealActivity:
    """A page of the deal's activity, newest first, in one statement; 404 when the user may not see the deal."""
    params: dict[str, Any] = {"user_id": user_id, "deal_id": deal_id, "limit": limit + 1}
    if before is not None:
        params.update(before_created_at=before.created_at, before_id=before.id)
    rows = db_session.execute(_activity_statement(before is not None), params).all()
    db_session.commit()  # end the read transaction
    if not rows:
        raise NotFound("Deal not found.")
    return activity_of(deal_id, rows[0].visible_deal_name, [row for row in rows if row.id is not None], limit)
