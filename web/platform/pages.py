"""What every page shares: the one "pages" blueprint, safe redirects, template filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, url_for

from web.platform.currency import format_money

bp = Blueprint("pages", __name__)


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
def money(value: Decimal | int | float, currency: str | None = None) -> str:
    """An amount in the organization's currency (``web.platform.currency``); USD when none is given."""
    return format_money(value, currency)


@bp.app_template_filter("when")
def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
