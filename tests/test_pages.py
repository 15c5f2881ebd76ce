"""The HTML pages through Flask's test client: forms, CSRF, the ``next`` redirect, permissions, errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.conftest import POSTGRES_SQL, SQLITE_SQL, ApiClient
from tests.helpers import last_deal_id
from web.errors import error_response
from web.pages.common import render_sessionless_error, safe_next
from web.pages.settings import describe_device

# Page tests exercise forms and templates, not the stores (the API tests cover every stack):
# SQLite by default, PostgreSQL too where SQL differs (the name search).
ONE_STACK = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)
BOTH_DATABASES = pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL], indirect=True, ids=lambda s: s.id)

CSRF_FIELD = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def form_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def submit(user: ApiClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    """Post a form as the browser would: the page's CSRF token in the body."""
    return user.client.post(path, data={"csrf_token": user.csrf, **(data or {})}, **kwargs)


def signed_in(browser, who: str) -> ApiClient:  # type: ignore[no-untyped-def]
    user = browser()
    user.login(who)
    return user


# --- Sign-in and the next redirect ----------------------------------------------------------


@ONE_STACK
def test_sign_in_form_then_home(browser, demo):
    user = browser()
    page = user.get("/login")
    assert page.status_code == 200
    response = user.client.post(
        "/login", data={"csrf_token": form_token(page.text), "email": "Alice@Acme.test", "password": "demo-password"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = user.get("/")
    assert "alice@acme.test" in home.text
    assert "Acme Capital" in home.text


@ONE_STACK
@pytest.mark.parametrize("email", ["alice@acme.test", "nobody@acme.test"])
def test_failed_sign_in_says_the_same_for_unknown_email_and_wrong_password(browser, demo, email):
    user = browser()
    token = form_token(user.get("/login").text)
    response = user.client.post("/login", data={"csrf_token": token, "email": email, "password": "wrong-password"})
    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text
    assert user.get("/").status_code == 302


@ONE_STACK
def test_sign_in_without_csrf_token_fails(browser, demo):
    user = browser()
    user.get("/login")
    response = user.client.post("/login", data={"email": "alice@acme.test", "password": "demo-password"})
    assert response.status_code == 400
    assert "That request could not be used" in response.text
    assert user.get("/").status_code == 302


@ONE_STACK
def test_signed_out_visit_goes_to_login_and_back(browser, demo):
    user = browser()
    response = user.get("/deals?q=north")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/deals?q%3Dnorth"
    token = form_token(user.get(response.headers["Location"]).text)
    signed = user.client.post(
        "/login?next=/deals?q%3Dnorth",
        data={"csrf_token": token, "email": "bob@acme.test", "password": "demo-password"},
    )
    assert signed.headers["Location"] == "/deals?q=north"


EVIL_TARGETS = [
    "https://evil.test/",
    "//evil.test/path",
    "/\\evil.test",
    "\\\\evil.test",
    "javascript:alert(1)",
    "/\t/evil.test",
    "http:/evil.test",
    "evil.test",
]


@ONE_STACK
def test_next_never_leaves_the_site(app: Flask, browser, demo):
    user = browser()
    token = form_token(user.get("/login").text)
    response = user.client.post(
        "/login",
        query_string={"next": "https://evil.test/"},
        data={"csrf_token": token, "email": "bob@acme.test", "password": "demo-password"},
    )
    assert response.headers["Location"] == "/"
    for target in EVIL_TARGETS:  # signed in, /login sends the user on to ``next`` at once
        assert user.get("/login", query_string={"next": target}).headers["Location"] == "/", target
    assert user.get("/login", query_string={"next": "/deals/3?q=a"}).headers["Location"] == "/deals/3?q=a"
    with app.test_request_context():
        assert [safe_next(target) for target in EVIL_TARGETS] == ["/"] * len(EVIL_TARGETS)


@ONE_STACK
def test_too_many_failed_sign_ins_get_the_429_page(app: Flask, browser, demo):
    app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "1 per minute"
    user = browser()
    token = form_token(user.get("/login").text)
    attempt = {"csrf_token": token, "email": "bob@acme.test", "password": "wrong-password"}
    assert user.client.post("/login", data=attempt).status_code == 401
    throttled = user.client.post("/login", data=attempt)
    assert throttled.status_code == 429
    assert "Too many requests" in throttled.text
    assert 'class="site-header"' in throttled.text


@ONE_STACK
def test_sign_out_needs_the_form_token(browser, demo):
    user = signed_in(browser, "bob")
    assert user.client.post("/logout").status_code == 400
    assert user.get("/").status_code == 200
    assert submit(user, "/logout").headers["Location"] == "/login"
    assert user.get("/").status_code == 302


# --- The switcher ------------------------------------------------------------------------------


@ONE_STACK
def test_switcher_selects_and_clears(app, browser, demo):
    user = signed_in(browser, "alice")
    response = submit(user, "/deals/select", {"deal_id": demo["northwind"]})
    assert response.headers["Location"] == "/"
    assert user.current_deal_id() == demo["northwind"]
    home = user.get("/").text
    assert f'<option value="{demo["northwind"]}" selected>' in home
    assert 'class="current-deal"' in home
    assert submit(user, "/deals/current/clear").status_code == 302
    assert user.current_deal_id() is None
    assert last_deal_id(app, demo["alice"]) is None


@ONE_STACK
def test_select_button_returns_to_the_page_it_was_on(browser, demo):
    user = signed_in(browser, "alice")
    response = submit(user, f"/deals/{demo['contoso']}/select", {"next": "/deals?q=con"})
    assert response.headers["Location"] == "/deals?q=con"
    evil = submit(user, f"/deals/{demo['contoso']}/select", {"next": "https://evil.test/"})
    assert evil.headers["Location"] == "/"


@ONE_STACK
def test_switching_without_csrf_token_changes_nothing(browser, demo):
    user = signed_in(browser, "alice")
    response = user.client.post("/deals/select", data={"deal_id": demo["northwind"]})
    assert response.status_code == 400
    assert user.current_deal_id() is None


@ONE_STACK
def test_switcher_without_a_choice_says_so(browser, demo):
    user = signed_in(browser, "alice")
    response = submit(user, "/deals/select", {"deal_id": ""})
    assert response.headers["Location"] == "/"
    assert "Choose a deal to switch to." in user.get("/").text
    assert user.current_deal_id() is None


@ONE_STACK
def test_switcher_refuses_a_deal_the_user_cannot_see(browser, demo):
    user = signed_in(browser, "dave")
    response = submit(user, "/deals/select", {"deal_id": demo["northwind"]})
    assert response.status_code == 404
    assert user.current_deal_id() is None


@ONE_STACK
def test_switcher_lists_only_visible_deals(browser, demo):
    page = signed_in(browser, "dave").get("/").text
    options = re.findall(r'<option value="(\d+)"', page)
    assert options == [str(demo["woodgrove"])]


# --- Deal pages ------------------------------------------------------------------------------


@BOTH_DATABASES
def test_deal_list_searches_by_name_and_marks_the_current_deal(browser, demo):
    user = signed_in(browser, "alice")
    submit(user, "/deals/select", {"deal_id": demo["fabrikam"]})
    page = user.get("/deals", query_string={"q": "ROBOTICS"}).text
    assert re.findall(r'<tr[^>]*data-deal-id="(\d+)"', page) == [str(demo["fabrikam"])]
    assert f'class="selected" aria-current="true" data-deal-id="{demo["fabrikam"]}"' in page
    assert "1 deal matching" in page
    literal = user.get("/deals", query_string={"q": "%"}).text  # LIKE wildcards are searched literally
    assert "0 deals matching" in literal


@ONE_STACK
def test_create_deal_from_the_form(browser, demo):
    user = signed_in(browser, "bob")
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
    user = signed_in(browser, "bob")
    response = submit(user, "/deals", form)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text


@ONE_STACK
def test_viewer_sees_the_deal_but_no_edit_member_or_note_forms(browser, demo):
    dave = signed_in(browser, "dave")
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
    dave = signed_in(browser, "dave")
    for path in (f"/deals/{demo['northwind']}", f"/deals/{demo['litware']}", f"/deals/{demo['initech']}"):
        response = dave.get(path)
        assert response.status_code == 404
        assert "Page not found" in response.text
    assert submit(dave, f"/deals/{demo['northwind']}/notes", {"body": "x"}).status_code == 404


@ONE_STACK
def test_owner_edits_the_deal(browser, demo):
    bob = signed_in(browser, "bob")
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
    bob = signed_in(browser, "bob")
    path = f"/deals/{demo['tailspin']}"
    page = bob.get(path).text
    assert re.search(rf'<option value="{demo["dave"]}">dave@acme.test</option>', page)
    assert submit(bob, f"{path}/members", {"user_id": demo["dave"], "role": "viewer"}).status_code == 302
    dave = signed_in(browser, "dave")
    assert dave.get(path).status_code == 200
    assert submit(bob, f"{path}/members/{demo['dave']}/role", {"role": "editor"}).status_code == 302
    assert submit(dave, f"{path}/notes", {"body": "editor now"}).status_code == 302
    assert submit(bob, f"{path}/members/{demo['dave']}/remove").status_code == 302
    assert dave.get(path).status_code == 404


@ONE_STACK
def test_member_form_refuses_people_from_another_organization(browser, demo):
    bob = signed_in(browser, "bob")
    response = submit(bob, f"/deals/{demo['tailspin']}/members", {"user_id": demo["carol"], "role": "viewer"})
    assert response.status_code == 422
    assert "Not a valid choice" in response.text


@ONE_STACK
def test_notes_written_on_the_home_page_appear_there(browser, demo):
    bob = signed_in(browser, "bob")
    submit(bob, "/deals/select", {"deal_id": demo["woodgrove"]})
    response = submit(bob, f"/deals/{demo['woodgrove']}/notes", {"body": "Call <the> bank", "from": "home"})
    assert response.headers["Location"] == "/#notes"
    home = bob.get("/").text
    assert "Call &lt;the&gt; bank" in home
    assert "bob@acme.test" in home
    empty = submit(bob, f"/deals/{demo['woodgrove']}/notes", {"body": "   "})
    assert empty.status_code == 422


@ONE_STACK
def test_delete_asks_first_then_clears_the_current_deal(app, browser, demo):
    bob = signed_in(browser, "bob")
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


# --- Layout, errors, no inline code ----------------------------------------------------------

INLINE_CODE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    re.compile(r"<style", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),
]


@ONE_STACK
def test_pages_have_no_inline_script_or_style(browser, demo):
    anonymous = browser()
    alice = signed_in(browser, "alice")
    submit(alice, "/deals/select", {"deal_id": demo["northwind"]})
    submit(alice, f"/deals/{demo['northwind']}/notes", {"body": "a note"})
    pages = [anonymous.get("/login"), anonymous.get("/nowhere")]
    pages += [
        alice.get(path) for path in ("/", "/deals", f"/deals/{demo['northwind']}", f"/deals/{demo['northwind']}/delete")
    ]
    for response in pages:
        for pattern in INLINE_CODE:
            assert not pattern.search(response.text), (response.request.path, pattern.pattern)


@ONE_STACK
@pytest.mark.parametrize(
    ("status", "title"),
    [
        (403, "You may not do that"),
        (404, "Page not found"),
        (429, "Too many requests"),
        (500, "Something went wrong"),
        (503, "Temporarily unavailable"),
    ],
)
def test_error_pages_share_the_layout(app: Flask, status, title):
    with app.test_request_context("/somewhere"):
        html, code = error_response(status, "code", "The message.")  # type: ignore[misc]
    assert code == status
    assert f'<h1 id="error-heading">{title}</h1>' in html
    assert "The message." in html
    assert 'href="/static/app.css"' in html
    assert 'class="site-header"' in html


@ONE_STACK
def test_unexpected_error_renders_the_500_page(app: Flask, browser, demo):
    def explode() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/explode", "explode", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = signed_in(browser, "bob").get("/explode")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "boom" not in response.text


# --- Sessions and people -----------------------------------------------------------------------


def session_ids(page: str) -> list[str]:
    return re.findall(r'data-session-id="([^"]+)"', page)


@ONE_STACK
def test_sessions_page_lists_this_device_first_and_revokes_another(browser, demo):
    laptop = browser()
    laptop.login("bob")
    phone = browser()
    phone.client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1"
    )
    phone.login("bob")
    page = laptop.get("/settings/sessions").text
    ids = session_ids(page)
    assert len(ids) == 2
    assert page.index("This device") < page.index("Mobile Safari 17 on iOS (iPhone)")
    other = ids[1]
    response = submit(laptop, f"/settings/sessions/{other}/revoke")
    assert response.headers["Location"] == "/settings/sessions"
    assert session_ids(laptop.get("/settings/sessions").text) == [ids[0]]
    assert phone.get("/").headers["Location"].startswith("/login")
    assert submit(laptop, f"/settings/sessions/{other}/revoke").status_code == 404


@ONE_STACK
def test_revoking_this_device_signs_out(browser, demo):
    user = signed_in(browser, "bob")
    (mine,) = session_ids(user.get("/settings/sessions").text)
    assert submit(user, f"/settings/sessions/{mine}/revoke").headers["Location"] == "/login"
    assert user.get("/").status_code == 302


@ONE_STACK
def test_sign_out_everywhere_else_keeps_this_session(browser, demo):
    keep = signed_in(browser, "bob")
    others = [signed_in(browser, "bob") for _ in range(2)]
    response = submit(keep, "/settings/sessions/revoke-others")
    assert response.status_code == 302
    assert "Signed out 2 other sessions." in keep.get("/settings/sessions").text
    assert keep.get("/").status_code == 200
    assert all(other.get("/").status_code == 302 for other in others)


@ONE_STACK
def test_sessions_of_another_user_cannot_be_revoked(browser, demo):
    dave = signed_in(browser, "dave")
    (daves,) = session_ids(dave.get("/settings/sessions").text)
    bob = signed_in(browser, "bob")
    assert submit(bob, f"/settings/sessions/{daves}/revoke").status_code == 404
    assert dave.get("/").status_code == 200


@ONE_STACK
def test_people_page_is_for_admins(browser, demo):
    bob = signed_in(browser, "bob")
    assert bob.get("/admin/users").status_code == 403
    assert submit(bob, f"/admin/users/{demo['dave']}/active", {"active": "0"}).status_code == 403
    assert ">People<" not in bob.get("/").text
    alice = signed_in(browser, "alice")
    page = alice.get("/admin/users").text
    assert "bob@acme.test" in page
    assert "dave@acme.test" in page
    assert "carol@globex.test" not in page
    assert ">People<" in alice.get("/").text


@ONE_STACK
def test_admin_changes_a_role_and_deactivates_someone(browser, demo):
    alice = signed_in(browser, "alice")
    dave = signed_in(browser, "dave")
    assert submit(alice, f"/admin/users/{demo['dave']}/role", {"role": "admin"}).status_code == 302
    assert "dave@acme.test is now admin." in alice.get("/admin/users").text
    assert dave.get("/admin/users").status_code == 200  # the live session follows the new role
    assert submit(alice, f"/admin/users/{demo['dave']}/active", {"active": "0"}).status_code == 302
    assert "Inactive" in alice.get("/admin/users").text
    assert dave.get("/").status_code == 302  # signed out everywhere
    assert submit(alice, f"/admin/users/{demo['alice']}/active", {"active": "0"}).status_code == 409
    assert submit(alice, f"/admin/users/{demo['carol']}/role", {"role": "member"}).status_code == 404


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari 17 on iOS (iPhone)",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("something-odd", "something-odd"),
    ],
)
def test_device_is_described_from_the_user_agent(user_agent, device):
    assert describe_device(user_agent) == device


@ONE_STACK
def test_error_page_can_render_without_touching_the_session(app: Flask):
    """For a 503 when the session store is down: the layout, but no user, switcher or flashed messages."""
    from flask.globals import request_ctx

    with app.test_request_context("/deals"):
        html = render_sessionless_error(503, "The session store cannot be reached.")
        assert not request_ctx._session.accessed  # the flask.session proxy would itself mark it accessed
    assert "Temporarily unavailable" in html
    assert 'href="/static/app.css"' in html
    assert "Sign out" not in html
