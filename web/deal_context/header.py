"""The signed-in page header: the current deal and the deals the switcher offers, loaded once per request."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import g
from sqlalchemy import Select, bindparam, func, or_, select

from web.deal_context.request import session_context
from web.deals.models import Deal, Stage
from web.deals.permissions import visible_deals_clause
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.pages import bp

# The switcher lists this many deals, most recently changed first; /deals has them all.
SWITCHER_LIMIT = 50


@dataclass(frozen=True)
class HeaderDeal:
    """A deal as the header (and the home page's pick list) shows it."""

    id: int
    name: str
    stage: Stage


@dataclass(frozen=True)
class PageHeader:
    """The signed-in header: the current deal and the deals the switcher offers."""

    current: HeaderDeal | None
    deals: list[HeaderDeal]
    total: int


@functools.cache
def _header_statement() -> Select[tuple[int, str, Stage, int, int]]:
    """The user's visible deals ranked most recently changed first, with their total: the first
    ``limit`` of them and the deal ``current_id`` wherever it ranks (absent when it is not visible).

    One statement built once, instead of a count, a page and a visibility check per request.
    """
    ranked = (
        select(
            Deal.id,
            Deal.name,
            Deal.stage,
            func.count().over().label("total"),
            func.row_number().over(order_by=(Deal.updated_at.desc(), Deal.id.desc())).label("position"),
        )
        .where(visible_deals_clause(bindparam("user_id")))
        .subquery("ranked")
    )
    return (
        select(ranked.c.id, ranked.c.name, ranked.c.stage, ranked.c.total, ranked.c.position)
        .where(or_(ranked.c.position <= bindparam("limit"), ranked.c.id == bindparam("current_id")))
        .order_by(ranked.c.position)
    )


def load_page_header(user_id: int, current_id: int | None) -> PageHeader:
    rows = db.session.execute(
        _header_statement(), {"user_id": user_id, "limit": SWITCHER_LIMIT, "current_id": current_id}
    ).all()
    deals = [HeaderDeal(row.id, row.name, row.stage) for row in rows if row.position <= SWITCHER_LIMIT]
    current = next((HeaderDeal(row.id, row.name, row.stage) for row in rows if row.id == current_id), None)
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
