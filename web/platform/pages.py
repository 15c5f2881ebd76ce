"""What every page shares: the one "pages" blueprint, safe redirects, template filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, url_for

from web.platform.currency import format_money
from web.platform.http import MAX_ID

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


class RowPath:
    """The path of one endpoint for many ids: ``url_for`` once, then each row's path by concatenation.

    A page of 50 deals called ``url_for`` three times a row, about a seventh of the page's CPU
    (docs/PERFORMANCE.md). The path is the same string ``url_for`` gives: ``argument`` is an
    ``id`` route argument, written as the integer's decimal digits.
    """

    def __init__(self, endpoint: str, argument: str, values: dict[str, Any]) -> None:
        marker = str(MAX_ID)  # no other part of a DealDesk path holds these ten digits
        built = url_for(endpoint, **values, **{argument: MAX_ID})
        self.prefix, found, self.suffix = built.partition(marker)
        if not found or marker in self.suffix:
            raise ValueError(f"{endpoint}: {argument} is not one plain segment of {built!r}")

    def __call__(self, value: int) -> str:
        return f"{self.prefix}{int(value)}{self.suffix}"


@bp.app_template_global("row_path")
def row_path(endpoint: str, argument: str = "deal_id", **values: Any) -> RowPath:
    """``{% set detail = row_path('pages.deal_detail') %}`` before a loop, ``{{ detail(deal.id) }}`` in it."""
    return RowPath(endpoint, argument, values)


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
