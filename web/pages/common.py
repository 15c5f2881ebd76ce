"""What every page shares: the blueprint, the header's deal switcher, safe redirects, filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, url_for

from web.deal_context import session_context
from web.extensions import db
from web.http import signed_in_user
from web.models import Deal
from web.services import context as context_service
from web.services.deals import list_visible_deals

bp = Blueprint("pages", __name__)

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


def render_sessionless_error(status: int, message: str) -> str:
    """The error page in the site's layout without touching the session (for a 503 when its store is down).

    Rendered straight from the Jinja environment: the context processors (Flask-Login's
    ``current_user`` among them) would load the session.
    """
    template = current_app.jinja_env.get_template("error.html")
    return template.render(status=status, message=message, sessionless=True)


def safe_next(target: str | None) -> str:
    """Only same-site paths; anything else (another host, a scheme, //evil) goes home."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.index")
    if any(ord(char) < 32 for char in target):
        return url_for("pages.index")
    return target


@bp.app_template_filter("stage_label")
def stage_label(stage: Any) -> str:
    value = getattr(stage, "value", stage)
    return str(value).replace("_", " ").capitalize()


@bp.app_template_filter("money")
def money(value: Decimal | int | float) -> str:
    return f"{Decimal(value):,.2f}"


@bp.app_template_filter("when")
def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
