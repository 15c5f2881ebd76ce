"""What every page shares: the one "pages" blueprint, safe redirects, template filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, url_for

bp = Blueprint("pages", __name__)


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
