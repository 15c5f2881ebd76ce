"""The signed-in page header: the current deal and the deals the switcher offers, loaded once per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g

from web.deal_context import service as context_service
from web.deal_context.request import session_context
from web.deals.models import Deal
from web.deals.service import list_visible_deals
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.pages import bp

# The switcher lists this many deals, most recently changed first; /deals has them all.
SWITCHER_LIMIT = 50


@dataclass(frozen=True)
class PageHeader:
    """The signed-in header: the current deal and the deals the switcher offers."""

    current: Deal | None
    deals: list[Deal]
    total: int


def page_header() -> PageHeader:
    """The header for this request, loaded once (views and the layout both ask for it)."""
    if "page_header" not in g:
        user = signed_in_user()
        deals, total = list_visible_deals(db.session, user_id=user.id, limit=SWITCHER_LIMIT, offset=0)
        current = context_service.current_deal(db.session, user_id=user.id, context=session_context())
        if current is not None and all(deal.id != current.id for deal in deals):
            deals = [current, *deals]
        g.page_header = PageHeader(current=current, deals=deals, total=total)
    return g.page_header


@bp.app_context_processor
def inject_page_header() -> dict[str, Any]:
    """The layout calls ``page_header()`` lazily, for signed-in users only; error pages skip it,
    so a broken database cannot break them."""
    return {"page_header": page_header}
