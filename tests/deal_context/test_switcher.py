"""The header's deal switcher through Flask's test client: where a switch lands (``next``), the deals in
most-recently-used order (header and Home), the type-ahead's search, and what the header costs."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.clients import ApiClient, signed_in, submit
from tests.support.stacks import BOTH_DATABASES, ONE_STACK
from web.audit.models import AuditEvent
from web.deal_context.header import RECENT_SELECTIONS
from web.extensions import db

ACME_BY_NAME = ["contoso", "fabrikam", "northwind", "tailspin", "woodgrove"]


def switcher_options(page: str) -> list[int]:
    """The deal ids the header's switcher offers, in its order."""
    switcher = page.split('id="switcher-deal"')[1].split("</select>")[0]
    return [int(value) for value in re.findall(r'<option value="(\d+)"', switcher)]


def switcher_next(page: str) -> str:
    form = page.split('id="switcher-form"')[1].split("</form>")[0]
    match = re.search(r'name="next" value="([^"]*)"', form)
    assert match, form
    return html.unescape(match.group(1))


def recent_deals(page: str) -> list[int]:
    """The deal ids of Home's recent deals (shown when no deal is selected), in order."""
    listing = page.split('class="pick-list recent-deals"')[1].split("</ul>")[0]
    return [int(value) for value in re.findall(r'href="/deals/(\d+)"', listing)]


def switch(user: ApiClient, deal_id: int, next_path: str | None = None):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"deal_id": deal_id}
    if next_path is not None:
        data["next"] = next_path
    return submit(user, "/deals/select", data)


# --- Where a switch lands -----------------------------------------------------------------------


@ONE_STACK
@pytest.mark.parametrize("path", ["/", "/deals?q=con", "/settings/sessions", "/admin/users"])
def test_switcher_form_names_the_page_it_is_on(browser, demo, path):
    alice = signed_in(browser, "alice@acme.test")
    assert switcher_next(alice.get(path).text) == path


@ONE_STACK
@pytest.mark.parametrize("path", ["/deals?q=con", "/settings/sessions", "/"])
def test_switching_stays_on_the_page(browser, demo, path):
    alice = signed_in(browser, "alice@acme.test")
    response = switch(alice, demo["contoso"], path)
    assert response.status_code == 302
    assert response.headers["Location"] == path
    assert alice.current_deal_id() == demo["contoso"]
    assert "Switched to “Contoso Health minority stake”." in alice.get(path).text


@ONE_STACK
@pytest.mark.parametrize(
    "page", ["/deals/{deal}", "/deals/{deal}?tab=notes", "/deals/{deal}/delete", "/deals/{deal}/edit"]
)
def test_switching_on_a_deal_page_opens_the_chosen_deal(browser, demo, page):
    """From a deal's page (or a form of it, even one only POST serves), the chosen deal's page."""
    alice = signed_in(browser, "alice@acme.test")
    response = switch(alice, demo["contoso"], page.format(deal=demo["northwind"]))
    assert response.headers["Location"] == f"/deals/{demo['contoso']}"
    assert alice.current_deal_id() == demo["contoso"]


@ONE_STACK
@pytest.mark.parametrize(
    "target",
    ["https://evil.test/", "//evil.test/x", "/\\evil.test", "javascript:alert(1)", "deals", "/nowhere", "/logout", ""],
)
def test_switching_with_an_unsafe_or_unknown_next_goes_home(browser, demo, target):
    """Another site, a scheme, a relative path, no route, or a page only POST serves: home, the switch still made."""
    alice = signed_in(browser, "alice@acme.test")
    response = switch(alice, demo["contoso"], target)
    assert response.headers["Location"] == "/"
    assert alice.current_deal_id() == demo["contoso"]


@ONE_STACK
def test_a_page_address_too_long_for_next_still_switches(browser, demo):
    """The form's ``next`` takes 2,000 characters: a longer address falls back to its path, not to a refusal."""
    alice = signed_in(browser, "alice@acme.test")
    page = alice.get("/deals?q=" + "a" * 2100).text
    assert switcher_next(page) == "/deals"
    response = switch(alice, demo["contoso"], switcher_next(page))
    assert response.headers["Location"] == "/deals"
    assert alice.current_deal_id() == demo["contoso"]


@ONE_STACK
def test_switching_to_an_invisible_deal_changes_nothing_and_keeps_no_next(browser, demo):
    dave = signed_in(browser, "dave@acme.test")
    assert switch(dave, demo["woodgrove"]).status_code == 302
    response = switch(dave, demo["northwind"], f"/deals/{demo['woodgrove']}")
    assert response.status_code == 404
    assert dave.current_deal_id() == demo["woodgrove"]


@ONE_STACK
def test_switching_without_a_choice_stays_on_the_page(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    response = submit(alice, "/deals/select", {"deal_id": "", "next": "/deals?q=con"})
    assert response.headers["Location"] == "/deals?q=con"
    assert "Choose a deal to switch to." in alice.get("/deals?q=con").text


# --- Most recently used first ---------------------------------------------------------------------


@BOTH_DATABASES
def test_switcher_and_home_list_most_recently_used_first_then_by_name(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    assert switcher_options(alice.get("/").text) == [demo[name] for name in ACME_BY_NAME]
    for name in ["woodgrove", "contoso", "tailspin", "woodgrove"]:
        switch(alice, demo[name])
    expected = [demo[name] for name in ["woodgrove", "tailspin", "contoso", "fabrikam", "northwind"]]
    assert switcher_options(alice.get("/").text) == expected

    # Another browser of the same person sees the same order: it comes from the audit trail, not the session.
    elsewhere = signed_in(browser, "alice@acme.test")
    assert submit(elsewhere, "/deals/current/clear").status_code == 302
    home = elsewhere.get("/").text
    assert recent_deals(home) == expected
    assert home.count('class="last-used"') == 3


@ONE_STACK
def test_a_selection_through_the_api_counts_as_use(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    switch(alice, demo["woodgrove"])
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    assert switcher_options(alice.get("/deals").text)[:2] == [demo["northwind"], demo["woodgrove"]]


@ONE_STACK
def test_another_persons_selections_do_not_reorder_mine(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    bob = signed_in(browser, "bob@acme.test")
    switch(alice, demo["woodgrove"])
    switch(bob, demo["tailspin"])
    options = switcher_options(alice.get("/deals").text)
    assert options == [demo[name] for name in ["woodgrove", "contoso", "fabrikam", "northwind", "tailspin"]]


@ONE_STACK
def test_only_the_latest_selections_count_as_recent(app, browser, demo):
    """The header reads the last ``RECENT_SELECTIONS`` selections only: a deal chosen before them ranks by name."""
    alice = signed_in(browser, "alice@acme.test")
    switch(alice, demo["woodgrove"])
    later = datetime.now(UTC) + timedelta(minutes=1)
    with app.app_context():
        for index in range(RECENT_SELECTIONS):
            db.session.add(
                AuditEvent(
                    organization_id=demo["acme"],
                    user_id=demo["alice"],
                    action="deal.select",
                    deal_id=demo["tailspin"] if index % 2 else demo["fabrikam"],
                    created_at=later + timedelta(seconds=index),
                )
            )
        db.session.commit()
        db.session.remove()
    options = switcher_options(alice.get("/deals").text)
    # Tailspin (chosen last), Fabrikam, then by name: Woodgrove's selection is older than the last 100.
    assert options == [demo[name] for name in ["tailspin", "fabrikam", "contoso", "northwind", "woodgrove"]]
    assert submit(alice, "/deals/current/clear").status_code == 302
    assert recent_deals(alice.get("/").text)[-1] == demo["woodgrove"]


@BOTH_DATABASES
def test_header_stays_one_statement_with_a_selection_history(browser, demo, count_queries):
    alice = signed_in(browser, "alice@acme.test")
    for name in ACME_BY_NAME * 3:
        switch(alice, demo[name])
    assert submit(alice, "/deals/current/clear").status_code == 302
    alice.get("/")
    with count_queries() as log:
        assert alice.get("/").status_code == 200
    assert len(log.app_statements) == 1, log.app_statements
    with count_queries() as log:
        assert alice.get("/deals").status_code == 200
    assert len(log.app_statements) == 2, log.app_statements


# --- The type-ahead's search beyond the header -----------------------------------------------------


@BOTH_DATABASES
def test_deals_api_filters_by_name(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    found = alice.get("/api/deals?q=FAB").get_json()
    assert [deal["id"] for deal in found["deals"]] == [demo["fabrikam"]]
    assert found["total"] == 1
    assert alice.get("/api/deals?q=%25").get_json()["total"] == 0  # a LIKE wildcard is only a character
    assert alice.get("/api/deals?q=initech").get_json()["total"] == 0  # another organization's deal
    assert alice.get("/api/deals?q=" + "x" * 201).status_code == 422
