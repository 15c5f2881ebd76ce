"""What the /deals list was asked for, read from its query string, and the links of its sortable headings.

Everything is a GET parameter, so a filtered and sorted list is a link: it works without JavaScript and can be
bookmarked. A value that no form or link of the page produces is a 400 naming it; an empty value is "no filter",
as the filter form sends it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from flask import abort, url_for
from werkzeug.datastructures import MultiDict

from web.deals.deal_list import DealListQuery, DealSort
from web.deals.models import Stage

Choice = TypeVar("Choice", bound=enum.StrEnum)
# Names and stages read A→Z (pipeline order) first; values and dates newest or largest first.
ASCENDING_FIRST = frozenset({DealSort.NAME, DealSort.STAGE})
SEARCH_MAX_LENGTH = 200
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000
SORT_LABELS = {DealSort.NAME: "Name", DealSort.STAGE: "Stage", DealSort.VALUE: "Value", DealSort.UPDATED: "Updated"}


def list_query_from(args: MultiDict[str, str]) -> DealListQuery:
    """The list's search, filters and order from the query string; a value no form or link of the page
    produces is a 400 naming it (an empty value is "no filter", as the form sends it)."""
    stage = _choice(args, "stage", Stage, "stage")
    sort = _choice(args, "sort", DealSort, "column to sort by") or DealSort.UPDATED
    direction = args.get("dir") or ("asc" if sort in ASCENDING_FIRST else "desc")
    if direction not in ("asc", "desc"):
        abort(400, f"“{direction[:40]}” is not a sort direction: use asc or desc.")
    owner = args.get("owner") or ""
    # A user id as the id converter takes them (web.platform.http): ASCII digits, 1 to 2^31-1.
    if owner and not (owner.isascii() and owner.isdigit() and 0 < int(owner) <= MAX_ID):
        abort(400, f"“{owner[:40]}” is not an owner of a deal.")
    page = args.get("page") or "1"
    if not (page.isascii() and page.isdigit() and 0 < int(page) <= MAX_PAGE):
        abort(400, f"“{page[:40]}” is not a page of the list.")
    return DealListQuery(
        name_contains=args.get("q", "")[:SEARCH_MAX_LENGTH],
        stage=stage,
        owner_id=int(owner) if owner else None,
        sort=sort,
        descending=direction == "desc",
        page=int(page),
    )


@dataclass(frozen=True)
class SortColumn:
    """A sortable column heading: where its link goes and, when the list is sorted by it, which way."""

    label: str
    url: str
    aria_sort: str | None
    numeric: bool = False


def sort_columns(query: DealListQuery) -> dict[DealSort, SortColumn]:
    """Each heading links to the list sorted by its column, keeping the search and filters: the other way
    round when it is the column sorted by, else its natural direction. Plain links, so no script is needed."""
    columns = {}
    for sort, label in SORT_LABELS.items():
        sorted_here = query.sort is sort
        if sorted_here:
            direction = "asc" if query.descending else "desc"
        else:
            direction = "asc" if sort in ASCENDING_FIRST else "desc"
        url = url_for(
            "pages.deal_list",
            q=query.name_contains or None,
            stage=query.stage.value if query.stage else None,
            owner=query.owner_id,
            sort=sort.value,
            dir=direction,
        )
        aria_sort = ("descending" if query.descending else "ascending") if sorted_here else None
        columns[sort] = SortColumn(label, url, aria_sort, numeric=sort is DealSort.VALUE)
    return columns


def page_url(query: DealListQuery, page: int) -> str:
    """The list as it is (search, filters, order) at another page."""
    return url_for(
        "pages.deal_list",
        q=query.name_contains or None,
        stage=query.stage.value if query.stage else None,
        owner=query.owner_id,
        sort=query.sort.value,
        dir="desc" if query.descending else "asc",
        page=page if page > 1 else None,
    )


def _choice(args: MultiDict[str, str], name: str, choices: type[Choice], what: str) -> Choice | None:
    value = args.get(name) or ""
    if not value:
        return None
    try:
        return choices(value)
    except ValueError:
        abort(400, f"“{value[:40]}” is not a {what} of the deals list.")
