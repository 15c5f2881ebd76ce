"""Over HTTPS the same-origin Referer rule applies to form posts; a token in X-CSRFToken needs no Referer.

Two ways of serving HTTPS: TLS at the app (``PREFERRED_URL_SCHEME=https`` makes Flask's
test client speak https), and the deployed one, TLS ended by nginx, which forwards
``X-Forwarded-Proto``/``-Host`` to an app with ``TRUSTED_PROXIES=1`` (docs/DEPLOYMENT.md).
The rule and why: docs/SECURITY.md, CSRF; the code: ``web.platform.csrf``.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.clients import ApiClient, form_token
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL, StackSettings

NGINX_HOST = "deals.example.test"
OTHER_SITE = "https://evil.example.net/page"
pytestmark = pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
over_https = pytest.mark.parametrize("served", ["tls-at-the-app", "behind-nginx"])


def https_app(stack_settings: StackSettings, served: str) -> tuple[Flask, str]:
    """An app on the test's stores that sees its requests as HTTPS, and its origin."""
    if served == "behind-nginx":
        return stack_settings.make_app(TRUSTED_PROXIES=1), f"https://{NGINX_HOST}"
    return stack_settings.make_app(PREFERRED_URL_SCHEME="https"), "https://localhost"


def https_client(app: Flask) -> FlaskClient:
    """A new browser on ``app``; behind nginx, each request carries what nginx adds to it."""
    client = app.test_client()
    if app.config["TRUSTED_PROXIES"]:
        client.environ_base.update(HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST=NGINX_HOST)
    return client


def post_sign_in_form(client: FlaskClient, referrer: str | None) -> tuple[int, str]:
    """Sign alice in with the HTML form, as sent with ``referrer``: the status and the page."""
    token = form_token(client.get("/login").get_data(as_text=True))
    form = {"email": "alice@acme.test", "password": DEFAULT_PASSWORD, "csrf_token": token}
    response = client.post("/login", data=form, headers={"Referer": referrer} if referrer else {})
    return response.status_code, response.get_data(as_text=True)


@over_https
def test_api_change_with_the_header_token_needs_no_referrer(stack_settings, demo, served):
    app, _origin = https_app(stack_settings, served)
    api = ApiClient(https_client(app))
    api.login("alice@acme.test")  # a POST with the header token and no Referer, like every change below
    response = api.post(f"/api/deals/{demo['northwind']}/select")
    assert response.status_code == 200, response.get_json()
    assert api.current_deal_id() == demo["northwind"]


@over_https
def test_api_change_with_the_header_token_ignores_a_foreign_referrer(stack_settings, demo, served):
    # Only a client outside a browser can send this (a browser would need a CORS grant to send the
    # header from another origin), and such a client can send any Referer: it proves nothing either way.
    app, _origin = https_app(stack_settings, served)
    api = ApiClient(https_client(app))
    api.login("alice@acme.test")
    response = api.post(f"/api/deals/{demo['northwind']}/select", headers={"Referer": OTHER_SITE})
    assert response.status_code == 200, response.get_json()
    assert api.current_deal_id() == demo["northwind"]


@over_https
def test_api_change_with_a_wrong_header_token_is_refused(stack_settings, demo, served):
    app, origin = https_app(stack_settings, served)
    api = ApiClient(https_client(app))
    api.login("alice@acme.test")
    response = api.post(
        f"/api/deals/{demo['northwind']}/select", headers={"X-CSRFToken": "not-the-token", "Referer": f"{origin}/"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "csrf_failed", "message": "The CSRF token is invalid."}
    assert api.current_deal_id() is None


@over_https
def test_form_post_without_referrer_is_refused(stack_settings, demo, served):
    app, _origin = https_app(stack_settings, served)
    client = https_client(app)
    status, page = post_sign_in_form(client, referrer=None)
    assert status == 400
    assert "The referrer header is missing." in page
    assert client.get("/api/me").status_code == 401


@over_https
def test_form_post_from_another_origin_is_refused(stack_settings, demo, served):
    app, origin = https_app(stack_settings, served)
    client = https_client(app)
    # The app's own host over plain http is another origin too (what a network attacker would serve).
    for referrer in (OTHER_SITE, origin.replace("https://", "http://") + "/login"):
        status, page = post_sign_in_form(client, referrer=referrer)
        assert status == 400, referrer
        assert "The referrer does not match the host." in page
    assert client.get("/api/me").status_code == 401


@over_https
def test_form_post_from_the_same_origin_works(stack_settings, demo, served):
    app, origin = https_app(stack_settings, served)
    client = https_client(app)
    status, _page = post_sign_in_form(client, referrer=f"{origin}/login")
    assert status == 302
    assert client.get("/api/me").get_json()["user"]["id"] == demo["alice"]


def test_no_cross_origin_request_is_granted(stack_settings, demo):
    """What makes the header token enough: a browser asks before sending X-CSRFToken to another
    origin (a CORS preflight), and DealDesk never says yes."""
    app, _origin = https_app(stack_settings, "behind-nginx")
    api = ApiClient(https_client(app))
    api.login("alice@acme.test")
    cors = {"Origin": "https://evil.example.net"}
    preflight = api.client.options(
        f"/api/deals/{demo['northwind']}/select",
        headers={**cors, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-csrftoken"},
    )
    answers = [preflight, api.get("/api/me", headers=cors), api.post("/api/auth/logout", headers=cors)]
    for response in answers:
        granted = [name for name, _value in response.headers.items() if name.lower().startswith("access-control-")]
        assert not granted, (response.request.method, granted)
