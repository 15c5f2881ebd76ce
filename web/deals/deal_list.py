"""The /deals list as a read model: one page of the deals a user may see, filtered, sorted and counted in one
statement (``list_deal_rows``); ``web.deals.list_query`` reads what was asked for from the query string.

The statement is built once per shape with bound parameters (``functools.cache``), and filters with the
permission clauses, so the list never shows what the JSON API would refuse.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from web.deals.models import Deal, Stage
from web.deals.permissions import managed_deals_clause, visible_deals_clause
from web.deals.service import escape_like
from web.identity.models import Organization, User


@dataclass(frozen=True)
class DealRow:
    """A deal as the /deals list shows it."""

    id: int
    name: str
    stage: Stage
    value: Decimal
    updated_at: datetime
    managed: bool
    owner_id: int
    owner_email: str
    currency: str


class DealSort(enum.StrEnum):
    """The columns /deals sorts by (the ``sort`` query parameter)."""

    NAME = "name"
    STAGE = "stage"
    VALUE = "value"
    UPDATED = "updated"


@dataclass(frozen=True)
class DealListQuery:
    """What /deals was asked for: a search, filters and an order. Filters left as None are off."""

    name_contains: str = ""
    stage: Stage | None = None
    owner_id: int | None = None
    sort: DealSort = DealSort.UPDATED
    descending: bool = True
    page: int = 1  # pages of the list's size, from 1


@dataclass(frozen=True)
class Owner:
    id: int
    email: str


@dataclass(frozen=True)
class DealList:
    """A page of /deals: the matching deals, how many match, and everyone who owns a deal the user sees (the
    owner filter's choices, whatever the filters)."""

    deals: list[DealRow]
    total: int
    owners: list[Owner]
    first: int = 1  # the position of the page's first deal among all that match
    per_page: int = 50

    @property
    def last(self) -> int:
        return self.first + len(self.deals) - 1

    @property
    def has_previous(self) -> bool:
        return self.first > 1

    @property
    def has_next(self) -> bool:
        return self.last < self.total


# Stages sort in pipeline order, not alphabetically.
_STAGE_ORDER = case({stage: position for position, stage in enumerate(Stage)}, value=Deal.stage, else_=99)


def _sort_key(sort: DealSort) -> ColumnElement[Any]:
    owner = {
        DealSort.NAME: func.lower(Deal.name),
        DealSort.STAGE: _STAGE_ORDER,
        DealSort.VALUE: Deal.value,
        DealSort.UPDATED: Deal.updated_at,
    }
    return owner[sort]


@functools.cache
def _deal_list_statement(
    searching: bool, by_stage: bool, by_owner: bool, sort: DealSort, descending: bool
) -> Select[Any]:
    """Every deal the user sees, ranked: the ``limit`` that match the search and filters after the first
    ``offset``, plus each owner's first deal (for the owner filter's choices), with the total that match — one
    statement.

    Filtering happens in a ``matches`` column rather than the WHERE clause, so the owners come from all the user's
    visible deals; the window functions run over rows the visibility rule already had to read.
    """
    owner = aliased(User, name="deal_owner")
    matches: ColumnElement[bool] = true()
    if searching:
        needle = bindparam("needle")
        matches = matches & or_(Deal.name.ilike(needle, escape="\\"), owner.email.ilike(needle, escape="\\"))
    if by_stage:
        matches = matches & (Deal.stage == bindparam("stage"))
    if by_owner:
        matches = matches & (Deal.owner_id == bindparam("owner_id"))
    matching = case((matches, 1), else_=0)
    key = _sort_key(sort)
    order = (key.desc(), Deal.id.desc()) if descending else (key.asc(), Deal.id.asc())
    ranked = (
        select(
            Deal.id,
            Deal.name,
            Deal.stage,
            Deal.value,
            Deal.updated_at,
            managed_deals_clause(bindparam("user_id")).label("managed"),
            Deal.owner_id,
            owner.email.label("owner_email"),
            Organization.currency,
            matching.label("matches"),
            func.sum(matching).over().label("total"),
            func.row_number().over(partition_by=matching, order_by=order).label("position"),
            func.row_number().over(partition_by=Deal.owner_id, order_by=Deal.id).label("owner_rank"),
        )
        .join(owner, owner.id == Deal.owner_id)
        .join(Organization, Organization.id == Deal.organization_id)
        .where(visible_deals_clause(bindparam("user_id")))
        .subquery("ranked")
    )
    return (
        select(ranked)
        .where(or_(and_(ranked.c.matches == 1, _on_page(ranked.c.position)), ranked.c.owner_rank == 1))
        .order_by(ranked.c.matches.desc(), ranked.c.position)
    )


def _on_page(position: ColumnElement[int]) -> ColumnElement[bool]:
    return and_(position > bindparam("offset"), position <= bindparam("offset") + bindparam("limit"))


def list_deal_rows(db_session: Session, *, user_id: int, query: DealListQuery, limit: int) -> DealList:
    """Page ``query.page`` (``limit`` deals a page) of the deals the user may see that match ``query`` (name or
    owner email containing the text, any case; the stage; the owner), in its order with the id breaking ties, with
    whether the user manages each, how many match, and the owners of all the deals the user sees — in one
    statement."""
    needle = query.name_contains.strip()
    offset = (query.page - 1) * limit
    parameters: dict[str, object] = {"user_id": user_id, "limit": limit, "offset": offset}
    if needle:
        parameters["needle"] = f"%{escape_like(needle)}%"
    if query.stage is not None:
        parameters["stage"] = query.stage
    if query.owner_id is not None:
        parameters["owner_id"] = query.owner_id
    statement = _deal_list_statement(
        bool(needle), query.stage is not None, query.owner_id is not None, query.sort, query.descending
    )
    rows = db_session.execute(statement, parameters).all()
    deals = [
        DealRow(
            row.id,
            row.name,
            Stage(row.stage),
            row.value,
            row.updated_at,
            bool(row.managed),
            row.owner_id,
            row.owner_email,
            row.currency,
        )
        for row in rows
        if row.matches == 1 and offset < row.position <= offset + limit
    ]
    owners = sorted(
        {Owner(row.owner_id, row.owner_email) for row in rows if row.owner_rank == 1},
        key=lambda owner: (owner.email.lower(), owner.id),
    )
    total = int(rows[0].total or 0) if rows else 0
    return DealList(deals=deals, total=total, owners=owners, first=offset + 1, per_page=limit)
