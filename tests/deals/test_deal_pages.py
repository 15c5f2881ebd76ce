"""The deal pages through Flask's test client: list and search, create, edit, members, notes, delete, permissions."""

from __future__ import annotations

import html
import re

import pytest

from tests.support.clients import signed_in, submit
from tests.support.stacks import BOTH_DATABASES, ONE_STACK
from tests.support.state import last_deal_id

# --- Deal pages ------------------------------------------------------------------------------


@BOTH_DATABASES
def test_deal_list_searches_by_name_and_marks_the_current_deal(browser, demo):
    user = signed_in(browser, "alice@acme.test")
    submit(user, "/deals/select", {"deal_id": demo["fabrikam"]})
    page = user.get("/deals", query_string={"q": "ROBOTICS"}).text
    assert re.findall(r'<tr[^>]*data-deal-id="(\d+)"', page) == [str(demo["fabrikam"])]
    assert f'class="selected" aria-current="true" data-deal-id="{demo["fabrikam"]}"' in page
    assert "1 deal matching" in page
    literal = user.get("/deals", query_string={"q": "%"}).text  # LIKE wildcards are searched literally
    assert "0 deals matching" in literal


@ONE_STACK
def test_create_deal_from_the_form(browser, demo):
    user = signed_in(browser, "bob@acme.test")
    response = submit(
        user, "/deals", {"name": "  Zephyr Foods roll-up ", "stage": "negotiation", "value": "1250000.50"}
    )
    assert response.status_code == 302
    detail = user.get(response.headers["Location"])
    assert detail.status_code == 200
    assert "Zephyr Foods roll-up" in detail.text
    assert "1,250,000.50" in detail.text
    assert "Negotiation" in detail.text


@ONE_STACK
@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "stage": "sourcing", "value": "1"}, "This field is required."),
        ({"name": "X", "stage": "sourcing", "value": "-1"}, "Enter an amount from 0 upwards."),
        ({"name": "X", "stage": "sourcing", "value": "1.005"}, "Use at most two decimals."),
        ({"name": "X", "stage": "sourcing", "value": "lots"}, "Not a valid decimal value."),
        ({"name": "X", "stage": "won", "value": "1"}, "Invalid Choice"),
        ({"name": "X" * 201, "stage": "sourcing", "value": "1"}, "Field cannot be longer than 200 characters."),
    ],
)
def test_invalid_deal_form_shows_the_error(browser, demo, form, message):
    user = signed_in(browser, "bob@acme.test")
    response = submit(user, "/deals", form)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text


@ONE_STACK
def test_viewer_sees_the_deal_but_no_edit_member_or_note_forms(browser, demo):
    dave = signed_in(browser, "dave@acme.test")
    page = dave.get(f"/deals/{demo['woodgrove']}").text
    assert "Woodgrove Bank branch sale" in page
    assert "Edit details" not in page
    assert "Add member" not in page
    assert "Add note" not in page
    assert "Delete…" not in page
    assert (
        submit(dave, f"/deals/{demo['woodgrove']}/edit", {"name": "X", "stage": "sourcing", "value": "1"}).status_code
        == 403
    )
    assert submit(dave, f"/deals/{demo['woodgrove']}/notes", {"body": "hi"}).status_code == 403
    assert (
        submit(dave, f"/deals/{demo['woodgrove']}/members", {"user_id": demo["alice"], "role": "editor"}).status_code
        == 403
    )
    assert submit(dave, f"/deals/{demo['woodgrove']}/members/{demo['dave']}/remove").status_code == 403
    assert dave.get(f"/deals/{demo['woodgrove']}/delete").status_code == 403
    assert submit(dave, f"/deals/{demo['woodgrove']}/delete").status_code == 403


@ONE_STACK
def test_deals_of_others_are_not_found(browser, demo):
    dave = signed_in(browser, "dave@acme.test")
    for path in (f"/deals/{demo['northwind']}", f"/deals/{demo['litware']}", f"/deals/{demo['initech']}"):
        response = dave.get(path)
        assert response.status_code == 404
        assert "Page not found" in response.text
    assert submit(dave, f"/deals/{demo['northwind']}/notes", {"body": "x"}).status_code == 404


@ONE_STACK
def test_owner_edits_the_deal(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    path = f"/deals/{demo['tailspin']}"
    response = submit(
        bob, f"{path}/edit", {"name": "Tailspin Air carve-out II", "stage": "diligence", "value": "9000000"}
    )
    assert response.headers["Location"] == path
    page = bob.get(path).text
    assert "Tailspin Air carve-out II" in page
    assert "9,000,000.00" in page
    invalid = submit(bob, f"{path}/edit", {"name": "", "stage": "diligence", "value": "1"})
    assert invalid.status_code == 422
    assert '<details class="edit" open>' in invalid.text


@ONE_STACK
def test_owner_adds_changes_and_removes_a_member(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    path = f"/deals/{demo['tailspin']}"
    page = bob.get(path).text
    assert re.search(rf'<option value="{demo["dave"]}">dave@acme.test</option>', page)
    added = submit(bob, f"{path}/members", {"user_id": demo["dave"], "role": "viewer"})
    assert added.status_code == 302 and added.headers["Location"] == f"{path}#members"
    assert confirmation_at_members(bob.get(path).text) == "Added dave@acme.test to Tailspin Air carve-out."
    dave = signed_in(browser, "dave@acme.test")
    assert dave.get(path).status_code == 200
    assert submit(bob, f"{path}/members/{demo['dave']}/role", {"role": "editor"}).status_code == 302
    assert confirmation_at_members(bob.get(path).text) == "dave@acme.test is now an editor of Tailspin Air carve-out."
    assert submit(dave, f"{path}/notes", {"body": "editor now"}).status_code == 302
    assert submit(bob, f"{path}/members/{demo['dave']}/remove").status_code == 302
    page = bob.get(path).text
    assert confirmation_at_members(page) == "Removed dave@acme.test from Tailspin Air carve-out."
    assert confirmation_at_members(bob.get(path).text) is None  # said once
    assert dave.get(path).status_code == 404


def confirmation_at_members(page: str) -> str | None:
    """The confirmation shown under the Members heading (where the person is looking), if any."""
    found = re.search(r'<h2 id="members-heading">Members</h2>\s*<p class="flash success form-confirmation" '
                      r'role="status">([^<]*)</p>', page)  # fmt: skip
    return html.unescape(found.group(1)) if found else None


@ONE_STACK
def test_member_form_refuses_people_from_another_organization(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    response = submit(bob, f"/deals/{demo['tailspin']}/members", {"user_id": demo["carol"], "role": "viewer"})
    assert response.status_code == 422
    assert "Not a valid choice" in response.text


@ONE_STACK
def test_notes_written_on_the_home_page_appear_there(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    submit(bob, "/deals/select", {"deal_id": demo["woodgrove"]})
    response = submit(bob, f"/deals/{demo['woodgrove']}/notes", {"body": "Call <the> bank", "from": "home"})
    assert response.headers["Location"] == "/#note-form"  # the confirmation is shown at the form
    home = bob.get("/").text
    assert "Call &lt;the&gt; bank" in home
    assert "bob@acme.test" in home
    empty = submit(bob, f"/deals/{demo['woodgrove']}/notes", {"body": "   "})
    assert empty.status_code == 422


@ONE_STACK
def test_delete_asks_first_then_clears_the_current_deal(app, browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    path = f"/deals/{demo['tailspin']}"
    submit(bob, "/deals/select", {"deal_id": demo["tailspin"]})
    confirm = bob.get(f"{path}/delete")
    assert confirm.status_code == 200
    assert "Delete “Tailspin Air carve-out”?" in confirm.text
    assert bob.client.post(f"{path}/delete").status_code == 400  # no token: nothing happens
    assert bob.get(path).status_code == 200
    response = submit(bob, f"{path}/delete")
    assert response.headers["Location"] == "/deals"
    assert bob.get(path).status_code == 404
    assert bob.current_deal_id() is None
    assert last_deal_id(app, demo["bob"]) is None
