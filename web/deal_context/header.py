"""The signed-in page header: the current deal and the deals the switcher offers, loaded once per request."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g
from sqlalchemy import Select, bindparam, case, func, or_, select

from web.audit.models import AuditEvent
from web.deal_context.request import session_context
from web.deals.models import Deal, Stage
from web.deals.permissions import visible_deals_clause
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.pages import bp

# The switcher lists this many deals, most recently used first; /deals has them all.
SWITCHER_LIMIT = 50
# How far back "most recently used" looks: the user's last this many selections (audit events
# ``deal.select``), read backwards along ix_audit_events_user_created, so the cost stays bounded
# however long the user's history is.
RECENT_SELECTIONS = 100


@dataclass(frozen=True)
class HeaderDeal:
    """A deal as the header (and the home page's recent deals) shows it; ``last_used`` is when the
    user last selected it (None when not among their recent selections)."""

    id: int
    name: str
    stage: Stage
    last_used: datetime | None = None


@dataclass(frozen=True)
class PageHeader:
    """The signed-in header: the current deal and the deals the switcher offers."""

    current: HeaderDeal | None
    deals: list[HeaderDeal]
    total: int


def _last_used_subquery() -> Any:
    """Per deal, the user's latest selection among their last ``RECENT_SELECTIONS`` (the app keeps no
    other record of use: the audit trail's ``deal.select`` events are it, kept ``AUDIT_RETENTION_DAYS``)."""
    recent = (
        select(AuditEvent.id, AuditEvent.deal_id, AuditEvent.created_at)
        .where(
            AuditEvent.user_id == bindparam("user_id"),
            AuditEvent.action == "deal.select",
            AuditEvent.deal_id.is_not(None),
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(RECENT_SELECTIONS)
        .subquery("recent_selections")
    )
    return (
        select(
            recent.c.deal_id,
            func.max(recent.c.id).label("last_event"),
            func.max(recent.c.created_at).label("last_used"),
        )
        .group_by(recent.c.deal_id)
        .subquery("last_used")
    )


@functools.cache
def _header_statement() -> Select[Any]:
    """The user's visible deals ranked most recently used first, then by name, with their total:
    the first ``limit`` of them and the deal ``current_id`` wherever it ranks (absent when it is
    not visible).

    One statement built once, instead of a count, a page, the recent selections and a visibility
    check per request. Portable ordering (no NULLS LAST: MariaDB lacks it): never-used deals rank
    after used ones through a CASE.
    """
    last_used = _last_used_subquery()
    never_used = case((last_used.c.last_event.is_(None), 1), else_=0)
    ranked = (
        select(
            Deal.id,
            Deal.name,
            Deal.stage,
            last_used.c.last_used,
            func.count().over().label("total"),
            func.row_number()
            .over(order_by=(never_used, last_used.c.last_event.desc(), func.lower(Deal.name), Deal.id))
            .label("position"),
        )
        .select_from(Deal)
        .outerjoin(last_used, last_used.c.deal_id == Deal.id)
        .where(visible_deals_clause(bindparam("user_id")))
        .subquery("ranked")
    )
    return (
        select(ranked.c.id, ranked.c.name, ranked.c.stage, ranked.c.last_used, ranked.c.total, ranked.c.position)
        .where(or_(ranked.c.position <= bindparam("limit"), ranked.c.id == bindparam("current_id")))
        .order_by(ranked.c.position)
    )


def load_page_header(user_id: int, current_id: int | None) -> PageHeader:
    rows = db.session.execute(
        _header_statement(), {"user_id": user_id, "limit": SWITCHER_LIMIT, "current_id": current_id}
    ).all()
    by_id = {row.id: HeaderDeal(row.id, row.name, row.stage, row.last_used) for row in rows}
    deals = [by_id[row.id] for row in rows if row.position <= SWITCHER_LIMIT]
    current = by_id.get(current_id) if current_id is not None else None
    if current is not None and all(deal.id != current.id for deal in deals):
        deals = [current, *deals]
    return PageHeader(current=current, deals=deals, total=rows[0].total if rows else 0)


def page_header() -> PageHeader:
    """The header for this request, loaded once (views and the layout both ask for it)."""
    if "page_header" not in g:
        context = session_context()
        g.page_header = load_page_header(signed_in_user().id, context.deal_id if context is not None else None)
    return g.page_header


@bp.app_context_processor
def inject_page_header() -> dict[str, Any]:
    """The layout calls ``page_header()`` lazily, for signed-in users only; error pages skip it,
    so a broken database cannot break them."""
    return {"page_header": page_header}
