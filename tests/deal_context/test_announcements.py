"""Changes are announced: the poll an open page makes (``GET /api/context``) and the notice its next load shows.

Each change is made by another client (another browser of the same user, or another
person) and reaches this session through the session store, on every stack; the poll costs
no application statement while nothing changed, and the notice is said once, named from
the audit trail (web.deal_context.announcements).
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from tests.support.clients import ApiClient, signed_in
from tests.support.stacks import ONE_STACK
from web.audit.models import AuditEvent
from web.extensions import db
from web.platform.models import utcnow

WOODGROVE = "Woodgrove Bank branch sale"
NORTHWIND = "Northwind Logistics buyout"
TIME = r"\d\d:\d\d UTC"


def poll(user: ApiClient) -> dict:
    response = user.get("/api/context")
    assert response.status_code == 200, response.text
    return response.get_json()


def notice_text(html: str) -> str | None:
    """The text of the page's context notice, tags stripped; None when the page has none."""
    found = re.search(r'<div class="context-notice"[^>]*>(.*?)</div>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else None


def body_attributes(html: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", html)
    assert tag is not None
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(1)))


def test_poll_costs_no_statement_when_nothing_changed(browser, app, demo, count_queries, stack):
    dave = signed_in(browser, "dave@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    poll(dave)  # the first request after the selection may extend the session; count steady ones
    with count_queries() as log:
        states = [poll(dave) for _ in range(3)]
    assert log.app_statements == [], "the poll reads the session only"
    if stack.sessions == "redis":
        assert log.store_statements == []
    else:
        assert len(log.store_statements) <= 3, "one session read per poll at most"
    assert (states[-1]["user_id"], states[-1]["user_email"]) == (demo["dave"], "dave@acme.test")
    assert states[-1]["deal_id"] == demo["woodgrove"]
    assert states[-1]["deal_name"] == WOODGROVE
    assert states[-1]["notice"] is None


def test_poll_reports_a_selection_made_in_another_tab(browser, demo, count_queries):
    tab_a = signed_in(browser, "alice@acme.test")
    assert tab_a.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    page = tab_a.get("/")
    rendered = body_attributes(page.text)
    assert rendered["deal-id"] == str(demo["woodgrove"])
    assert rendered["deal-name"] == WOODGROVE
    assert rendered["context-url"] == "/api/context"
    # Tab B shares the cookie jar, hence the session: the same client.
    assert tab_a.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    with count_queries() as log:
        state = poll(tab_a)
    assert log.app_statements == []
    assert (state["deal_id"], state["deal_name"], state["notice"]) == (demo["northwind"], NORTHWIND, None)
    assert state["version"] > int(rendered["context-version"])


def test_deleted_deal_is_reported_with_who_and_when(browser, demo, count_queries):
    dave, bob = signed_in(browser, "dave@acme.test"), signed_in(browser, "bob@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204
    with count_queries() as log:
        state = poll(dave)
    assert len(log.app_statements) == 1, "one statement reads the audit trail, only while a notice is owed"
    assert state["deal_id"] is None
    notice = state["notice"]
    assert (notice["action"], notice["actor"], notice["deal_name"]) == ("deal.delete", "bob@acme.test", WOODGROVE)
    assert re.fullmatch(rf"bob@acme\.test deleted {WOODGROVE} at {TIME}\. No deal is selected now\.", notice["text"])


def test_removed_access_is_reported(browser, app, make, count_queries):
    owner = make.user(email="owner@acme.test")
    deal = make.deal(owner, name="Project Atlas")
    viewer = make.viewer(deal)
    member, manager = signed_in(browser, viewer.email), signed_in(browser, owner.email)
    assert member.post(f"/api/deals/{deal.id}/select").status_code == 200
    assert manager.delete(f"/api/deals/{deal.id}/members/{viewer.id}").status_code == 204
    notice = poll(member)["notice"]
    assert notice["action"] == "deal.member_remove"
    assert re.fullmatch(
        rf"owner@acme\.test removed you from Project Atlas at {TIME}\. No deal is selected now\.", notice["text"]
    )


def test_a_role_change_that_hides_the_deal_is_reported(browser, demo):
    alice, bob = signed_in(browser, "alice@acme.test"), signed_in(browser, "bob@acme.test")
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "admin"}).status_code == 200
    assert bob.post(f"/api/deals/{demo['northwind']}/select").status_code == 200  # alice's deal: seen as admin
    assert alice.patch(f"/api/users/{demo['bob']}", json={"role": "member"}).status_code == 200
    notice = poll(bob)["notice"]
    assert (notice["action"], notice["actor"]) == ("user.role_change", "alice@acme.test")
    assert re.fullmatch(
        rf"alice@acme\.test changed your role at {TIME}, so {NORTHWIND} is no longer visible to you\. .+",
        notice["text"],
    )
    assert notice_text(bob.get("/").text) == notice["text"]


def test_a_lost_deal_names_the_deal_the_session_falls_back_to(browser, demo):
    """Alice's office browser held Woodgrove; her home browser chose Northwind since: the office takes Northwind."""
    office, home = signed_in(browser, "alice@acme.test"), signed_in(browser, "alice@acme.test")
    bob = signed_in(browser, "bob@acme.test")
    assert office.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    assert home.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204
    state = poll(office)
    assert state["deal_id"] == demo["northwind"]
    assert state["notice"]["new_deal_name"] == NORTHWIND
    assert state["notice"]["text"].endswith(f"Your current deal is now {NORTHWIND}.")
    assert poll(home)["notice"] is None, "home kept its deal: nothing to announce"


def test_ended_session_answers_401_to_the_poll(browser, demo):
    laptop, phone = signed_in(browser, "bob@acme.test"), signed_in(browser, "bob@acme.test")
    poll(phone)
    sessions = laptop.get("/api/sessions").get_json()["sessions"]
    other = next(row for row in sessions if not row["current"])
    assert laptop.delete(f"/api/sessions/{other['id']}").status_code == 204
    response = phone.get("/api/context")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
    sign_in_page = phone.get(phone.get("/deals").headers["Location"])
    assert (
        notice_text(sign_in_page.text)
        == "Your session ended: you were signed out elsewhere, or it expired. Sign in to go on."
    )


@ONE_STACK
def test_signing_out_here_is_not_called_an_ended_session(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    assert bob.post("/api/auth/logout").status_code == 204
    assert notice_text(bob.get("/login").text) is None


def test_next_page_names_actor_deal_and_time_once(browser, demo, count_queries):
    dave, bob = signed_in(browser, "dave@acme.test"), signed_in(browser, "bob@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    assert notice_text(dave.get("/").text) is None
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204

    with count_queries() as noticed:
        page = dave.get("/")
    text = notice_text(page.text)
    assert text is not None
    assert re.fullmatch(rf"bob@acme\.test deleted {WOODGROVE} at {TIME}\. No deal is selected now\.", text)
    assert 'role="status"' in page.text
    with count_queries() as after:
        again = dave.get("/")
    assert notice_text(again.text) is None, "said once"
    assert len(after.app_statements) == len(noticed.app_statements) - 1, "the notice costs one statement, once"
    assert poll(dave)["notice"] is None


@ONE_STACK
def test_signed_out_pages_carry_no_context(browser, demo):
    page = browser().get("/login")
    assert body_attributes(page.text) == {}
    assert "data-announcer" not in page.text


@ONE_STACK
def test_the_actor_is_told_it_was_them(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    assert bob.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204
    assert notice_text(bob.get("/").text).startswith(f"You deleted {WOODGROVE} at ")


@ONE_STACK
def test_without_a_recent_event_the_notice_still_names_the_deal(browser, app, demo):
    """The audit trail is searched a day back from the rewrite (LOOKBACK); past that, the deal is named alone."""
    dave, bob = signed_in(browser, "dave@acme.test"), signed_in(browser, "bob@acme.test")
    assert dave.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    assert bob.delete(f"/api/deals/{demo['woodgrove']}").status_code == 204
    with app.app_context():
        db.session.execute(update(AuditEvent).values(created_at=utcnow() - timedelta(days=2)))
        db.session.commit()
        db.session.remove()
    notice = poll(dave)["notice"]
    assert (notice["action"], notice["actor"], notice["at"]) == (None, None, None)
    assert notice["text"] == f"{WOODGROVE} is no longer available to you. No deal is selected now."
