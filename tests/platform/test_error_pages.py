"""Every HTML error page speaks in the app's words, says when to retry, and offers a way back."""

from __future__ import annotations

import re

import pytest
from flask import Flask, abort
from werkzeug.exceptions import default_exceptions

from tests.support.clients import form_token, signed_in
from tests.support.stacks import ONE_STACK

STATUSES = [400, 401, 403, 404, 405, 409, 413, 429, 500, 503]


def visible_text(html: str) -> str:
    main = html.split("<main", 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


@pytest.fixture
def raising_app(app: Flask) -> Flask:
    """The app with a route that aborts with any status and no description of its own: Werkzeug's stock one."""

    def raise_status(status: int) -> str:
        abort(status)

    app.add_url_rule("/test-only/raise/<int:status>", "raise_status", raise_status)
    return app


@ONE_STACK
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("who", ["visitor", "signed-in"])
def test_each_error_page_is_in_the_apps_words_with_a_way_back(raising_app: Flask, browser, make, status, who):
    client = browser()
    if who == "signed-in":
        client = signed_in(browser, make.user().email)
    response = client.get(f"/test-only/raise/{status}")
    assert response.status_code == status
    text = visible_text(response.text)
    stock = default_exceptions[status].description
    assert stock not in response.text
    assert f"Error {status}" in text
    assert re.search(r'<h1 id="error-heading">[A-Z][^<]+</h1>', response.text)
    ways = re.findall(r'<p class="error-ways">(.*?)</p>', response.text, re.S)[0]
    links = re.findall(r">([^<]+)</a>", ways)
    assert links, "no way back"
    if who == "signed-in":
        assert "Home" in links and "Your deals" in links
    else:
        assert "Sign in" in links


@ONE_STACK
def test_an_unknown_address_is_a_404_without_the_servers_stock_sentence(browser, demo):
    response = signed_in(browser, "bob@acme.test").get("/no-such-page")
    assert response.status_code == 404
    assert "The requested URL was not found on the server" not in response.text
    assert "If you entered the URL manually" not in response.text
    text = visible_text(response.text)
    assert "Page not found" in text and "There is nothing at this address." in text
    assert "The address may be mistyped" in text


@ONE_STACK
def test_a_message_of_the_apps_own_is_kept(browser, demo):
    """A view's own description stays: the deals list names the value it refused."""
    response = signed_in(browser, "bob@acme.test").get("/deals?stage=won")
    assert response.status_code == 400
    assert "“won” is not a stage of the deals list." in response.text


@ONE_STACK
def test_the_wrong_method_is_a_405_in_the_apps_words(browser, demo):
    response = browser().get("/logout")
    assert response.status_code == 405
    assert default_exceptions[405].description not in response.text
    assert "This address does not take that kind of request." in response.text


@ONE_STACK
def test_the_429_page_says_when_to_retry(app: Flask, browser, demo):
    app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "1 per 15 minutes"
    user = browser()
    attempt = {"csrf_token": form_token(user.get("/login").text), "email": "bob@acme.test", "password": "wrong"}
    assert user.client.post("/login", data=attempt).status_code == 401
    throttled = user.client.post("/login", data=attempt)
    assert throttled.status_code == 429
    wait = int(throttled.headers["Retry-After"])
    assert 14 * 60 < wait <= 15 * 60
    text = visible_text(throttled.text)
    assert "per 15 minute" not in text and "Wait a minute" not in text
    minutes = re.search(r"Try again in (\d+) minutes \(at \d\d:\d\d UTC\)\.", text)
    assert minutes, text
    assert int(minutes.group(1)) == -(-wait // 60) or int(minutes.group(1)) == -(-wait // 60) + 1
    assert "Too many wrong passwords were tried for this account or from this address." in text
    # The API says the same in its message, with the same header.
    api = user.post("/api/auth/login", json={"email": "bob@acme.test", "password": "wrong"})
    assert api.status_code == 429
    assert api.get_json()["error"] == {
        "code": "rate_limited",
        "message": "Too many wrong passwords were tried for this account or from this address.",
    }
    assert int(api.headers["Retry-After"]) > 0
