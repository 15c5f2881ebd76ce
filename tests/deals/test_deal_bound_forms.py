"""Forms bound to the deal they show, and nothing typed lost (issue 14, items 1 and 3), through Flask's test client.

A note goes to the deal its page showed, whatever another tab made current; the page after it is that
deal's, with a confirmation naming it. A post whose session ended gets the sign-in form (401) with the
text kept, and after signing in the text is back in its form, not sent. A post to a deal that is gone
says so and keeps the text on screen.
"""

from __future__ import annotations

import html
import json
import re

from tests.support.clients import ApiClient, form_token, signed_in, submit
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.stacks import BOTH_DATABASES, ONE_STACK

KEPT_DRAFT = re.compile(r'name="kept_draft" value="([^"]+)"')
NOTE_TEXTAREA = re.compile(r'<textarea[^>]*id="note-body"[^>]*>(.*?)</textarea>', re.S)


def note_bodies(page: str) -> list[str]:
    return [html.unescape(body) for body in re.findall(r'<p class="note-body">(.*?)</p>', page, re.S)]


def post_note(user: ApiClient, deal_id: int, body: str, **extra: str):
    return submit(user, f"/deals/{deal_id}/notes", {"body": body, **extra})


def sign_in_from(user: ApiClient, page: str, email: str):
    """Submit the sign-in form ``page`` shows, as a browser would: its action, token and hidden fields."""
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    data = {"csrf_token": form_token(page), "email": email, "password": DEFAULT_PASSWORD}
    kept = KEPT_DRAFT.search(page)
    if kept:
        data["kept_draft"] = html.unescape(kept.group(1))
    return user.client.post(action, data=data)


@BOTH_DATABASES
def test_note_from_home_lands_on_its_deal_when_another_tab_switched(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    submit(alice, "/deals/select", {"deal_id": demo["northwind"]})
    assert f'data-deal-id="{demo["northwind"]}"' in alice.get("/").text  # tab A: home shows Northwind
    submit(alice, "/deals/select", {"deal_id": demo["fabrikam"]})  # tab B (same cookies) switches

    response = post_note(alice, demo["northwind"], "Board wants a Q3 close", **{"from": "home"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/deals/{demo['northwind']}#note-form"
    page = alice.get(response.headers["Location"]).text
    assert f'id="deal-heading" data-deal-id="{demo["northwind"]}"' in page
    assert note_bodies(page)[0] == "Board wants a Q3 close"
    assert re.search(
        r'class="flash success form-confirmation" role="status" data-draft-saved="u\d+:note:\d+">'
        r"Note added to Northwind Logistics buyout\.</p>",
        page,
    )
    assert "Note added" not in alice.get(response.headers["Location"]).text  # shown once
    fabrikam_home = alice.get("/").text
    assert "Board wants a Q3 close" not in fabrikam_home


@ONE_STACK
def test_note_from_home_stays_home_when_it_still_shows_that_deal(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    submit(alice, "/deals/select", {"deal_id": demo["northwind"]})
    response = post_note(alice, demo["northwind"], "Still here", **{"from": "home"})
    assert response.headers["Location"] == "/#note-form"
    home = alice.get("/").text
    assert note_bodies(home)[0] == "Still here"
    assert "Note added to Northwind Logistics buyout." in home


@ONE_STACK
def test_edit_confirmation_names_the_deal(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    path = f"/deals/{demo['tailspin']}"
    response = submit(bob, f"{path}/edit", {"name": "Tailspin II", "stage": "diligence", "value": "5"})
    assert response.headers["Location"] == path
    assert "Saved changes to Tailspin II." in bob.get(path).text


@BOTH_DATABASES
def test_note_after_revocation_gets_the_sign_in_form_and_comes_back_in_its_form(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    deal = demo["woodgrove"]
    bob.get(f"/deals/{deal}")  # the page is open, its token in the form
    other = signed_in(browser, "bob@acme.test")
    assert submit(other, "/settings/sessions/revoke-others").status_code == 302

    posted = post_note(bob, deal, "Branch list <final>", subject="Woodgrove Bank branch sale")

    assert posted.status_code == 401
    assert "CSRF" not in posted.text
    assert 'id="login-heading">Sign in</h1>' in posted.text
    assert "your note for Woodgrove Bank branch sale is kept" in posted.text
    assert "Branch list &lt;final&gt;</textarea>" in posted.text  # on screen, read-only
    kept = json.loads(html.unescape(KEPT_DRAFT.search(posted.text).group(1)))
    assert kept["fields"] == {"body": "Branch list <final>"} and kept["view_args"] == {"deal_id": deal}
    assert "Branch list" not in other.get(f"/deals/{deal}").text  # nothing was written

    signed = sign_in_from(bob, posted.text, "bob@acme.test")
    assert signed.status_code == 302
    assert signed.headers["Location"] == f"/deals/{deal}#note-form"
    assert "Branch" not in signed.headers["Location"]
    page = bob.get(f"/deals/{deal}").text
    assert html.unescape(NOTE_TEXTAREA.search(page).group(1)).strip() == "Branch list <final>"
    assert "is not saved yet" in page
    assert "Branch list" not in " ".join(note_bodies(page))  # back in the form, not sent for bob
    assert "Branch list" not in "".join(NOTE_TEXTAREA.findall(bob.get(f"/deals/{deal}").text))  # taken once

    bob._csrf = None
    saved = post_note(bob, deal, "Branch list <final>")
    assert saved.status_code == 302
    assert note_bodies(bob.get(f"/deals/{deal}").text)[0] == "Branch list <final>"


@ONE_STACK
def test_deactivated_user_post_keeps_the_text_and_a_wrong_password_keeps_it_too(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    bob.get(f"/deals/{demo['tailspin']}")
    alice = signed_in(browser, "alice@acme.test")
    assert submit(alice, f"/admin/users/{demo['bob']}/active", {"active": "0"}).status_code == 302

    posted = post_note(bob, demo["tailspin"], "Do not lose me")
    assert posted.status_code == 401
    assert "Do not lose me</textarea>" in posted.text

    submit(alice, f"/admin/users/{demo['bob']}/active", {"active": "1"})
    page = posted.text
    wrong = bob.client.post(
        html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1)),
        data={
            "csrf_token": form_token(page),
            "email": "bob@acme.test",
            "password": "not it",
            "kept_draft": html.unescape(KEPT_DRAFT.search(page).group(1)),
        },
    )
    assert wrong.status_code == 401
    assert "Do not lose me</textarea>" in wrong.text and KEPT_DRAFT.search(wrong.text)
    assert sign_in_from(bob, wrong.text, "bob@acme.test").headers["Location"] == f"/deals/{demo['tailspin']}#note-form"
    assert "Do not lose me</textarea>" in bob.get(f"/deals/{demo['tailspin']}").text


@ONE_STACK
def test_edit_kept_across_sign_in_reopens_the_form_with_the_changes(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    path = f"/deals/{demo['tailspin']}"
    bob.get(path)
    submit(signed_in(browser, "bob@acme.test"), "/settings/sessions/revoke-others")
    posted = submit(bob, f"{path}/edit", {"name": "Renamed while away", "stage": "diligence", "value": "12"})
    assert posted.status_code == 401
    assert sign_in_from(bob, posted.text, "bob@acme.test").headers["Location"] == path
    page = bob.get(path).text
    assert '<details class="edit" open>' in page
    assert 'value="Renamed while away"' in page
    assert "Tailspin Air carve-out</h1>" in page  # not saved


@ONE_STACK
def test_a_forged_kept_draft_keeps_only_a_marked_views_own_fields(browser, demo):
    bob = browser()
    page = bob.get("/login").text
    forged = {
        "endpoint": "pages.add_note",
        "view_args": {"deal_id": demo["tailspin"]},
        "fields": {"body": "typed", "password": "secret"},
    }
    response = bob.client.post(
        "/login",
        data={
            "csrf_token": form_token(page),
            "email": "bob@acme.test",
            "password": "wrong",
            "kept_draft": json.dumps(forged),
        },
    )
    assert "secret" not in response.text and "typed</textarea>" in response.text
    not_a_form = dict(forged, endpoint="pages.login")
    response = bob.client.post(
        "/login",
        data={
            "csrf_token": form_token(page),
            "email": "bob@acme.test",
            "password": "wrong",
            "kept_draft": json.dumps(not_a_form),
        },
    )
    assert "kept_draft" not in response.text


@BOTH_DATABASES
def test_note_to_a_deleted_deal_says_so_and_keeps_the_text(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    bob.get(f"/deals/{demo['tailspin']}")
    alice = signed_in(browser, "alice@acme.test")
    assert submit(alice, f"/deals/{demo['tailspin']}/delete").status_code == 302

    posted = post_note(bob, demo["tailspin"], "Carve-out memo v2", subject="Tailspin Air carve-out")

    assert posted.status_code == 404
    assert "Tailspin Air carve-out was deleted by alice@acme.test at " in posted.text
    assert "Carve-out memo v2</textarea>" in posted.text
    assert "may be mistyped" not in posted.text
    api = bob.post(f"/api/deals/{demo['tailspin']}/notes", json={"body": "x"})
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"  # the API is unchanged


@ONE_STACK
def test_form_from_an_earlier_session_of_a_signed_in_browser_keeps_the_text_and_writes_nothing(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    stale_token = form_token(bob.get(f"/deals/{demo['tailspin']}").text)
    bob.login("bob@acme.test")  # signed in anew (another tab): the open page's token is from the old session
    posted = bob.client.post(
        f"/deals/{demo['tailspin']}/notes",
        data={"csrf_token": stale_token, "body": "From the old tab", "subject": "Tailspin Air carve-out"},
    )
    assert posted.status_code == 400
    assert "opened before your last sign-in, so your note was not saved" in posted.text
    assert "From the old tab</textarea>" in posted.text
    assert f'href="/deals/{demo["tailspin"]}#note-form">Back to Tailspin Air carve-out</a>' in posted.text
    page = bob.get(f"/deals/{demo['tailspin']}").text
    assert "From the old tab" not in page  # neither written nor planted in the form by a refused post


@ONE_STACK
def test_removed_or_demoted_member_is_told_who_did_it_and_keeps_the_text(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    woodgrove = demo["woodgrove"]
    submit(bob, f"/deals/{woodgrove}/members/{demo['dave']}/role", {"role": "editor"})
    dave = signed_in(browser, "dave@acme.test")
    assert "Add note" in dave.get(f"/deals/{woodgrove}").text

    submit(bob, f"/deals/{woodgrove}/members/{demo['dave']}/role", {"role": "viewer"})
    demoted = post_note(dave, woodgrove, "Editor no more", subject="Woodgrove Bank branch sale")
    assert demoted.status_code == 403
    assert "bob@acme.test made you a viewer of Woodgrove Bank branch sale at " in demoted.text
    assert "Editor no more</textarea>" in demoted.text

    submit(bob, f"/deals/{woodgrove}/members/{demo['dave']}/remove")
    removed = post_note(dave, woodgrove, "Out of the deal", subject="Woodgrove Bank branch sale")
    assert removed.status_code == 404
    assert "bob@acme.test removed you from Woodgrove Bank branch sale at " in removed.text
    assert "Out of the deal</textarea>" in removed.text


@ONE_STACK
def test_a_deal_of_another_organization_is_never_explained(browser, demo):
    carol = signed_in(browser, "carol@globex.test")
    alice = signed_in(browser, "alice@acme.test")
    submit(alice, f"/deals/{demo['northwind']}/delete")
    posted = post_note(carol, demo["northwind"], "Guessing ids")
    assert posted.status_code == 404
    assert "This deal is no longer available to you" in posted.text
    assert "Northwind" not in posted.text and "alice@acme.test" not in posted.text


@ONE_STACK
def test_text_kept_across_sign_in_for_a_deal_deleted_meanwhile_is_shown(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    bob.get(f"/deals/{demo['tailspin']}")
    submit(signed_in(browser, "bob@acme.test"), "/settings/sessions/revoke-others")
    posted = post_note(bob, demo["tailspin"], "Written before the deletion", subject="Tailspin Air carve-out")
    assert posted.status_code == 401
    submit(signed_in(browser, "alice@acme.test"), f"/deals/{demo['tailspin']}/delete")
    landed = bob.get(sign_in_from(bob, posted.text, "bob@acme.test").headers["Location"])
    assert landed.status_code == 404
    assert "Tailspin Air carve-out was deleted by alice@acme.test" in landed.text
    assert "Written before the deletion</textarea>" in landed.text


@ONE_STACK
def test_a_post_with_a_visitors_valid_token_gets_the_sign_in_form_with_the_text(browser, demo):
    visitor = browser()  # never signed in: the token of the sign-in page passes the CSRF check
    token = form_token(visitor.get("/login").text)
    posted = visitor.client.post(f"/deals/{demo['tailspin']}/notes", data={"csrf_token": token, "body": "Anon text"})
    assert posted.status_code == 401  # login_required's answer to a form post (web.identity.login.unauthorized)
    assert "Anon text</textarea>" in posted.text and KEPT_DRAFT.search(posted.text)
