"""A deal's activity feed: what was done to the deal in plain language, newest first, selections left out, older
pages by a cursor link that works without JavaScript, for anyone who may see the deal and nobody else."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.support.clients import ApiClient, signed_in, submit
from tests.support.factories import Factories
from tests.support.stacks import BOTH_DATABASES
from web.audit.read_models import ACTIVITY_PAGE_SIZE
from web.identity.models import Role


@dataclass(frozen=True)
class Story:
    owner: ApiClient
    viewer: ApiClient
    outsider: ApiClient
    deal_id: int
    viewer_email: str


@pytest.fixture
def story(browser, make: Factories) -> Story:
    """An owner creates a deal, moves it on, adds a viewer, writes a note; owner and viewer both select it."""
    organization = make.organization()
    owner = make.user(organization, email="owner@feed.test")
    viewer = make.user(organization, email="viewer@feed.test")
    make.user(organization, email="outsider@feed.test")
    owner_client = signed_in(browser, owner.email)
    deal_id = owner_client.post("/api/deals", json={"name": "Northwind", "stage": "diligence"}).get_json()["id"]
    assert owner_client.patch(f"/api/deals/{deal_id}", json={"stage": "negotiation"}).status_code == 200
    added = owner_client.post(f"/api/deals/{deal_id}/members", json={"user_id": viewer.id, "role": "viewer"})
    assert added.status_code == 201
    assert owner_client.post(f"/api/deals/{deal_id}/notes", json={"body": "Met the board"}).status_code == 201
    viewer_client = signed_in(browser, viewer.email)
    for client in (owner_client, viewer_client):
        assert submit(client, "/deals/select", {"deal_id": deal_id}).status_code == 302
    return Story(owner_client, viewer_client, signed_in(browser, "outsider@feed.test"), deal_id, viewer.email)


def feed(page: str) -> list[str]:
    """The activity feed's sentences, in page order."""
    section = page.split('id="activity"')[1].split("</section>")[0]
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'<li class="activity-item"[^>]*>\s*<p>(.*?)</p>', section, re.S)
    ]


def older_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">Show older activity</a>', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_feed_tells_what_was_done_newest_first_without_selections(story: Story):
    page = story.viewer.get(f"/deals/{story.deal_id}").text
    assert feed(page) == [
        "owner@feed.test added a note to Northwind",
        "owner@feed.test added viewer@feed.test to Northwind as viewer",
        "owner@feed.test moved Northwind from Diligence to Negotiation",
        "owner@feed.test created Northwind",
    ]
    assert "switched to" not in page.split('id="activity"')[1]
    assert older_link(page) is None
    assert re.search(
        r'<li class="activity-item"[^>]*>\s*<p>[^<]+</p>\s*<p class="activity-meta"><time datetime="', page
    )


def test_older_activity_pages_by_cursor_without_javascript(story: Story):
    for number in range(ACTIVITY_PAGE_SIZE + 3):
        assert story.owner.post(f"/api/deals/{story.deal_id}/notes", json={"body": f"n{number}"}).status_code == 201
    page = story.viewer.get(f"/deals/{story.deal_id}").text
    first = feed(page)
    assert len(first) == ACTIVITY_PAGE_SIZE
    link = older_link(page)
    assert link is not None and link.startswith(f"/deals/{story.deal_id}/activity?before=")
    older = story.viewer.get(link)
    assert older.status_code == 200
    rest = feed(older.text)
    # 13 notes and the 4 events of the story: 17, the first 10 on the deal page, 7 after it, none twice.
    assert len(rest) == ACTIVITY_PAGE_SIZE + 3 + 4 - ACTIVITY_PAGE_SIZE
    assert rest[-1] == "owner@feed.test created Northwind"
    assert older_link(older.text) is None
    assert f'href="/deals/{story.deal_id}#activity"' in older.text  # back to the deal


def test_who_may_not_see_the_deal_gets_404_from_the_activity_route(story: Story, browser, make: Factories):
    assert story.outsider.get(f"/deals/{story.deal_id}/activity").status_code == 404
    assert story.outsider.get(f"/deals/{story.deal_id}").status_code == 404
    stranger = signed_in(browser, make.user(make.organization(), role=Role.ADMIN).email)
    assert stranger.get(f"/deals/{story.deal_id}/activity").status_code == 404
    assert story.viewer.get(f"/deals/{story.deal_id}/activity").status_code == 200


def test_a_removed_member_loses_the_feed(story: Story, make: Factories):
    members = story.owner.get(f"/api/deals/{story.deal_id}/members").get_json()["members"]
    member_id = next(member["user_id"] for member in members if member["email"] == story.viewer_email)
    assert story.owner.delete(f"/api/deals/{story.deal_id}/members/{member_id}").status_code == 204
    assert story.viewer.get(f"/deals/{story.deal_id}/activity").status_code == 404
    assert feed(story.owner.get(f"/deals/{story.deal_id}").text)[0] == (
        "owner@feed.test removed viewer@feed.test from Northwind"
    )


def test_a_bad_cursor_is_refused(story: Story):
    assert story.viewer.get(f"/deals/{story.deal_id}/activity?before=nope").status_code == 422


def test_edits_through_the_page_read_in_the_feed(story: Story):
    """Edits through the deal page's own form are in the feed too, naming only what changed."""
    page = story.owner.get(f"/deals/{story.deal_id}").text
    assert "Activity" in page
    response = submit(
        story.owner, f"/deals/{story.deal_id}/edit", {"name": "Northwind", "stage": "closed_won", "value": "0"}
    )
    assert response.status_code == 302
    assert feed(story.owner.get(f"/deals/{story.deal_id}").text)[0] == (
        "owner@feed.test moved Northwind from Negotiation to Closed won"
    )


@BOTH_DATABASES
def test_deal_page_with_its_feed_and_older_pages_cost_no_more_statements(story: Story, count_queries):
    """The feed's first page rides in the deal overview's statement: the deal page stays at 3 (header, overview
    with notes and activity, members); an older page is the header and one statement with the visibility check."""
    for number in range(ACTIVITY_PAGE_SIZE + 1):
        story.owner.post(f"/api/deals/{story.deal_id}/notes", json={"body": f"n{number}"})
    story.viewer.get(f"/deals/{story.deal_id}")
    with count_queries() as log:
        page = story.viewer.get(f"/deals/{story.deal_id}").text
    assert len(log.app_statements) == 3, log.app_statements
    assert len(feed(page)) == ACTIVITY_PAGE_SIZE
    link = older_link(page)
    assert link is not None
    with count_queries() as log:
        older = story.viewer.get(link)
    assert older.status_code == 200
    assert len(log.app_statements) == 2, log.app_statements
