"""The admin audit page: plain sentences, pickers over the organization's people, deals and actions that map to
the API's filters, readable times; one statement beside the page header."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.support.clients import ApiClient
from tests.support.factories import Factories
from tests.support.stacks import BOTH_DATABASES
from web.deals.models import Deal
from web.identity.models import Role, User

PAGE_HEADER_STATEMENTS = 1  # as tests/audit/test_audit_statements.py


@dataclass(frozen=True)
class Trail:
    admin: ApiClient
    alice: User
    bob: User
    gone: User
    atlas: Deal
    borealis: Deal
    deleted: Deal


@pytest.fixture
def trail(browser, make: Factories) -> Trail:
    """Alice (admin) and Bob each select a deal; a deactivated user and a deleted deal exist; another organization
    has a user and a deal that must never be offered."""
    organization = make.organization()
    alice = make.user(organization, email="alice@page.test", role=Role.ADMIN)
    bob = make.user(organization, email="bob@page.test")
    gone = make.user(organization, email="gone@page.test", active=False)
    atlas = make.deal(alice, name="Atlas")
    borealis = make.deal(bob, name="Borealis")
    deleted = make.deal(alice, name="Withdrawn deal", deleted=True)
    stranger = make.user(email="stranger@elsewhere.test")
    make.deal(stranger, name="Elsewhere deal")
    bob_client = browser()
    bob_client.login(bob.email)
    assert bob_client.post(f"/api/deals/{borealis.id}/select").status_code == 200
    admin = browser()
    admin.login(alice.email)
    assert admin.post(f"/api/deals/{atlas.id}/select").status_code == 200
    return Trail(admin, alice, bob, gone, atlas, borealis, deleted)


def options(page: str, select_id: str) -> dict[str, str]:
    """The picker's options, value → label (the empty "any" option included)."""
    select = page.split(f'id="{select_id}"')[1].split("</select>")[0]
    return {
        value: label.strip() for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    }


def sentences(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r'<td class="audit-what">(.*?)</td>', page, re.S)]


def test_pickers_offer_the_organizations_people_deals_and_actions(trail: Trail):
    page = trail.admin.get("/admin/audit").text
    people = options(page, "audit-user")
    assert people == {
        "": "Anyone",
        str(trail.alice.id): "alice@page.test",
        str(trail.bob.id): "bob@page.test",
        str(trail.gone.id): "gone@page.test",
    }
    assert '<optgroup label="Deactivated">' in page
    deals = options(page, "audit-deal")
    assert deals == {
        "": "Any deal",
        str(trail.atlas.id): "Atlas",
        str(trail.borealis.id): "Borealis",
        str(trail.deleted.id): "Withdrawn deal",
    }
    assert '<optgroup label="Deleted deals">' in page
    actions = options(page, "audit-action")
    assert actions[""] == "Anything"
    assert actions["deal.select"] == "Switched to a deal"
    assert actions["deal.delete"] == "Deleted a deal"
    assert "stranger@elsewhere.test" not in page and "Elsewhere deal" not in page


def test_page_reads_in_sentences_with_readable_times(trail: Trail):
    page = trail.admin.get("/admin/audit").text
    assert sentences(page)[:4] == [
        "alice@page.test switched to Atlas",
        "alice@page.test signed in",
        "bob@page.test switched to Borealis",
        "bob@page.test signed in",
    ]
    assert "<code>" not in page  # no bare action codes
    stamp = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert stamp is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", stamp.group(1))
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", stamp.group(2))


def test_each_picker_filters_and_an_empty_picker_means_any(trail: Trail):
    by_person = trail.admin.get("/admin/audit", query_string={"user_id": trail.bob.id, "deal_id": "", "action": ""})
    assert by_person.status_code == 200
    assert sentences(by_person.text) == ["bob@page.test switched to Borealis", "bob@page.test signed in"]
    assert f'<option value="{trail.bob.id}" selected>' in by_person.text

    by_deal = trail.admin.get("/admin/audit", query_string={"user_id": "", "deal_id": trail.atlas.id, "action": ""})
    assert sentences(by_deal.text) == ["alice@page.test switched to Atlas"]

    by_action = trail.admin.get("/admin/audit", query_string={"action": "auth.login"})
    assert sentences(by_action.text) == ["alice@page.test signed in", "bob@page.test signed in"]
    assert '<option value="auth.login" selected>' in by_action.text

    everything = trail.admin.get("/admin/audit", query_string={"user_id": "", "deal_id": "", "action": ""})
    assert len(sentences(everything.text)) == 4


def test_bad_filters_are_refused_and_members_may_not_look(trail: Trail, browser):
    assert trail.admin.get("/admin/audit", query_string={"user_id": "bob"}).status_code == 422
    member = browser()
    member.login(trail.bob.email)
    assert member.get("/admin/audit").status_code == 403


def test_older_pages_keep_the_filters(trail: Trail):
    first = trail.admin.get("/admin/audit", query_string={"limit": 1, "action": "auth.login"}).text
    older = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', first)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert "action=auth.login" in link
    assert sentences(trail.admin.get(link).text) == ["bob@page.test signed in"]


@BOTH_DATABASES
def test_page_with_pickers_and_filters_is_one_statement_beside_the_header(trail: Trail, count_queries):
    trail.admin.get("/admin/audit")
    for query in [{}, {"user_id": trail.bob.id, "deal_id": "", "action": ""}, {"deal_id": trail.atlas.id}]:
        with count_queries() as log:
            page = trail.admin.get("/admin/audit", query_string=query)
        assert page.status_code == 200
        assert len(log.app_statements) == 1 + PAGE_HEADER_STATEMENTS, log.app_statements
