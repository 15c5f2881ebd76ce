"""The HTML pages through Flask's test client: sign-in, the ``next`` redirect, CSRF, the switcher, layout and errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.support.clients import ApiClient, form_token, signed_in, submit
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.stacks import ONE_STACK
from tests.support.state import last_deal_id
from web.errors import error_response
from web.platform.pages import safe_next

# --- Sign-in and the next redirect ----------------------------------------------------------

BAD_CREDENTIALS = "The email or password is incorrect."


def post_sign_in_form(
    user: ApiClient,
    email: str,
    password: str = DEFAULT_PASSWORD,
    *,
    path: str = "/login",
    with_token: bool = True,
    **kwargs: Any,
) -> TestResponse:
    """Open the sign-in page at ``path`` and post its form, with the page's CSRF token unless told not to."""
    page = user.get(path)
    assert page.status_code == 200
    fields = {"email": email, "password": password}
    if with_token:
        fields["csrf_token"] = form_token(page.text)
    return user.client.post(path, data=fields, **kwargs)


@ONE_STACK
def test_sign_in_form_then_home(browser, demo):
    user = browser()
    response = post_sign_in_form(user, "Alice@Acme.test")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = user.get("/")
    assert "alice@acme.test" in home.text
    assert "Acme Capital" in home.text


@ONE_STACK
@pytest.mark.parametrize(
    ("email", "password", "with_token", "status", "message"),
    [
        pytest.param("alice@acme.test", "wrong-password", True, 401, BAD_CREDENTIALS, id="wrong-password"),
        # The same answer as for a wrong password: the form does not tell which emails exist.
        pytest.param("nobody@acme.test", "wrong-password", True, 401, BAD_CREDENTIALS, id="unknown-email"),
        pytest.param(
            "alice@acme.test", DEFAULT_PASSWORD, False, 400, "That request could not be used", id="no-csrf-token"
        ),
    ],
)
def test_refused_sign_in_leaves_the_user_signed_out(browser, demo, email, password, with_token, status, message):
    user = browser()
    response = post_sign_in_form(user, email, password, with_token=with_token)
    assert response.status_code == status
    assert message in response.text
    assert user.get("/").status_code == 302


@ONE_STACK
def test_signed_out_visit_goes_to_login_and_back(browser, demo):
    user = browser()
    response = user.get("/deals?q=north")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/deals?q%3Dnorth"
    signed = post_sign_in_form(user, "bob@acme.test", path=response.headers["Location"])
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
    response = post_sign_in_form(user, "bob@acme.test", query_string={"next": "https://evil.test/"})
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
    assert "Too many attempts" in throttled.text
    assert 'class="site-header"' in throttled.text


@ONE_STACK
def test_sign_out_needs_the_form_token(browser, demo):
    user = signed_in(browser, "bob@acme.test")
    assert user.client.post("/logout").status_code == 400
    assert user.get("/").status_code == 200
    assert submit(user, "/logout").headers["Location"] == "/login"
    assert user.get("/").status_code == 302


# --- The switcher ------------------------------------------------------------------------------


@ONE_STACK
def test_switcher_selects_and_clears(app, browser, demo):
    user = signed_in(browser, "alice@acme.test")
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
    user = signed_in(browser, "alice@acme.test")
    response = submit(user, f"/deals/{demo['contoso']}/select", {"next": "/deals?q=con"})
    assert response.headers["Location"] == "/deals?q=con"
    evil = submit(user, f"/deals/{demo['contoso']}/select", {"next": "https://evil.test/"})
    assert evil.headers["Location"] == "/"


@ONE_STACK
def test_switching_without_csrf_token_changes_nothing(browser, demo):
    user = signed_in(browser, "alice@acme.test")
    response = user.client.post("/deals/select", data={"deal_id": demo["northwind"]})
    assert response.status_code == 400
    assert user.current_deal_id() is None


@ONE_STACK
def test_switcher_without_a_choice_says_so(browser, demo):
    user = signed_in(browser, "alice@acme.test")
    response = submit(user, "/deals/select", {"deal_id": ""})
    assert response.headers["Location"] == "/"
    assert "Choose a deal to switch to." in user.get("/").text
    assert user.current_deal_id() is None


@ONE_STACK
def test_switcher_refuses_a_deal_the_user_cannot_see(browser, demo):
    user = signed_in(browser, "dave@acme.test")
    response = submit(user, "/deals/select", {"deal_id": demo["northwind"]})
    assert response.status_code == 404
    assert user.current_deal_id() is None


@ONE_STACK
def test_switcher_lists_only_visible_deals(browser, demo):
    page = signed_in(browser, "dave@acme.test").get("/").text
    options = re.findall(r'<option value="(\d+)"', page)
    assert options == [str(demo["woodgrove"])]


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
    alice = signed_in(browser, "alice@acme.test")
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
        (429, "Too many attempts"),
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
    response = signed_in(browser, "bob@acme.test").get("/explode")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "boom" not in response.text
