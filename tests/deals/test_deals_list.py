"""The /deals list: search, stage and owner filters, sortable columns, amounts in the organization's currency."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.support.clients import ApiClient, signed_in, submit
from tests.support.factories import Factories
from tests.support.stacks import BOTH_DATABASES, ONE_STACK
from web.audit.models import AuditEvent
from web.deals.models import Stage
from web.extensions import db
from web.identity.models import Role

ROW = re.compile(r'<tr[^>]*data-deal-id="(\d+)"')


@dataclass(frozen=True)
class Book:
    """An admin who sees four deals of two owners, and ids by name."""

    admin: ApiClient
    ids: dict[str, int]
    owners: dict[str, int]


@pytest.fixture
def book(browser: Callable[..., ApiClient], make: Factories) -> Book:
    organization = make.organization()
    admin = make.user(organization, role=Role.ADMIN, email="admin@book.test")
    other = make.user(organization, email="zed@book.test")
    deals = {
        "Atlas": make.deal(admin, name="Atlas", stage=Stage.NEGOTIATION, value="300.00"),
        "beacon": make.deal(other, name="beacon", stage=Stage.SOURCING, value="100.00"),
        "Comet": make.deal(admin, name="Comet", stage=Stage.CLOSED_WON, value="200.00"),
        "Delta": make.deal(other, name="Delta", stage=Stage.SOURCING, value="200.00"),
    }
    make.deal(make.user(make.organization()), name="Elsewhere")  # another organization's: never listed
    return Book(
        admin=signed_in(browser, admin.email),
        ids={name: deal.id for name, deal in deals.items()},
        owners={"admin": admin.id, "zed": other.id},
    )


def listed(book: Book, **params: str | int) -> list[str]:
    response = book.admin.get("/deals", query_string=params)
    assert response.status_code == 200, response.text
    names = {deal_id: name for name, deal_id in book.ids.items()}
    return [names[int(deal_id)] for deal_id in ROW.findall(response.text)]


@BOTH_DATABASES
def test_filters_by_stage_and_owner_and_searches_owner_emails(book: Book) -> None:
    assert sorted(listed(book, stage="sourcing")) == ["Delta", "beacon"]
    assert sorted(listed(book, owner=book.owners["admin"])) == ["Atlas", "Comet"]
    assert listed(book, stage="sourcing", owner=book.owners["zed"], sort="name") == ["beacon", "Delta"]
    assert sorted(listed(book, q="zed@")) == ["Delta", "beacon"]
    # An empty value is "no filter", as the form sends it.
    assert len(listed(book, stage="", owner="", q="")) == 4


@BOTH_DATABASES
def test_owner_choices_stay_whatever_the_filters(book: Book) -> None:
    page = book.admin.get("/deals", query_string={"stage": "closed_won"}).text
    owner_select = page.split('id="deal-owner"')[1].split("</select>")[0]
    assert "admin@book.test" in owner_select and "zed@book.test" in owner_select
    assert "1 deal matching in Closed won" in page


@BOTH_DATABASES
@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("name", "asc", ["Atlas", "beacon", "Comet", "Delta"]),  # any case
        ("name", "desc", ["Delta", "Comet", "beacon", "Atlas"]),
        # Pipeline order, then the id: beacon was made before Delta.
        ("stage", "asc", ["beacon", "Delta", "Atlas", "Comet"]),
        # Equal values keep the id order in the same direction: stable from page to page.
        ("value", "desc", ["Atlas", "Delta", "Comet", "beacon"]),
        ("value", "asc", ["beacon", "Comet", "Delta", "Atlas"]),
    ],
)
def test_sorts_by_each_column_with_the_id_breaking_ties(book: Book, sort: str, direction: str, expected) -> None:
    assert listed(book, sort=sort, dir=direction) == expected


@ONE_STACK
def test_sorted_heading_has_aria_sort_and_links_keep_the_filters(book: Book) -> None:
    page = book.admin.get("/deals", query_string={"sort": "value", "dir": "asc", "stage": "sourcing"}).text
    headings = re.findall(r"<th scope=\"col\"([^>]*)>\s*<a href=\"([^\"]+)\">(\w+)", page)
    by_label = {label: (attributes, href) for attributes, href, label in headings}
    assert 'aria-sort="ascending"' in by_label["Value"][0]
    assert all("aria-sort" not in by_label[label][0] for label in ("Name", "Stage", "Updated"))
    # The sorted column's link turns it round; the others start in their natural direction; filters kept.
    assert by_label["Value"][1] == "/deals?stage=sourcing&amp;sort=value&amp;dir=desc"
    assert by_label["Name"][1] == "/deals?stage=sourcing&amp;sort=name&amp;dir=asc"
    assert by_label["Updated"][1] == "/deals?stage=sourcing&amp;sort=updated&amp;dir=desc"
    default = book.admin.get("/deals").text
    assert re.search(r'<th scope="col" aria-sort="descending"[^>]*>\s*<a [^>]*>Updated', default)


@ONE_STACK
@pytest.mark.parametrize(
    "params",
    [
        {"stage": "won"},
        {"sort": "owner"},
        {"dir": "sideways"},
        {"owner": "alice"},
        {"owner": "-1"},
        {"owner": "0"},
        {"owner": "²"},
        {"owner": "99999999999999999999"},
    ],
)
def test_a_value_no_link_produces_is_a_400_naming_it(book: Book, params: dict[str, str]) -> None:
    response = book.admin.get("/deals", query_string=params)
    assert response.status_code == 400
    value = next(iter(params.values()))
    assert f"“{value}”" in response.text
    assert '<a href="/deals">Your deals</a>' in response.text  # the unfiltered list, one click away


@BOTH_DATABASES
def test_amounts_show_the_organizations_currency(book: Book, browser, make: Factories) -> None:
    assert "$300.00" in book.admin.get("/deals").text  # the default: USD
    page = book.admin.get("/admin/users").text
    assert '<option selected value="USD">' in page
    response = submit(book.admin, "/admin/organization/currency", {"currency": "EUR"})
    assert response.status_code == 302
    assert "Amounts are now shown in EUR." in book.admin.get("/admin/users").text
    listing = book.admin.get("/deals").text
    assert "€300.00" in listing and "$300.00" not in listing
    assert "€300.00" in book.admin.get(f"/deals/{book.ids['Atlas']}").text
    # Another organization keeps its own.
    outsider = make.user(make.organization())
    make.deal(outsider, name="Theirs", value="5.00")
    assert "$5.00" in signed_in(browser, outsider.email).get("/deals").text


@ONE_STACK
def test_currency_change_is_audited_and_only_for_admins(book: Book, browser, app) -> None:
    assert submit(book.admin, "/admin/organization/currency", {"currency": "JPY"}).status_code == 302
    assert submit(book.admin, "/admin/organization/currency", {"currency": "XXX"}).status_code == 302
    assert "Choose one of the listed currencies." in book.admin.get("/admin/users").text
    member = signed_in(browser, "zed@book.test")
    assert submit(member, "/admin/organization/currency", {"currency": "GBP"}).status_code == 403
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "organization.currency_change")).all()
        assert [event.details for event in events] == [{"from": "USD", "to": "JPY"}]
    assert "¥300" in book.admin.get("/deals").text


@BOTH_DATABASES
@pytest.mark.parametrize(
    "params",
    [{}, {"q": "a"}, {"stage": "sourcing", "owner": "1", "sort": "name", "dir": "asc"}, {"sort": "stage"}],
)
def test_the_list_costs_two_statements_whatever_the_filters(book: Book, count_queries, params) -> None:
    """The header, and the list with its total, owners, managed flags and currency."""
    book.admin.get("/deals", query_string=params)
    with count_queries() as log:
        assert book.admin.get("/deals", query_string=params).status_code == 200
    assert len(log.app_statements) == 2, log.app_statements
