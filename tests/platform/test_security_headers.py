"""Security headers on every kind of response, and templates that work under the CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from web.platform.security import CONTENT_SECURITY_POLICY

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
EXPECTED = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assert_security_headers(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.status_code)


def test_policy_forbids_inline_code_and_framing():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
def test_headers_on_pages_api_errors_and_static_files(app, api, demo):
    responses = [
        api.get("/login"),
        api.get("/"),  # redirect to sign-in
        api.get("/api/csrf"),
        api.get("/api/me"),  # 401
        api.get("/no-such-page"),  # HTML 404
        api.get("/api/no-such-route"),  # JSON 404
        api.post("/api/deals", json={}, headers={"X-CSRFToken": "forged"}),  # CSRF failure
        api.get("/static/app.css"),
    ]
    api.login("alice@acme.test")
    responses += [api.get("/"), api.get("/api/deals"), api.post(f"/api/deals/{demo['northwind']}/select")]
    assert {r.status_code for r in responses} >= {200, 302, 400, 401, 404}
    for response in responses:
        assert_security_headers(response)
        assert "Strict-Transport-Security" not in response.headers
        response.close()  # the static file's handle


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_hsts_only_in_production(stack_settings, app):
    production = stack_settings.make_app(APP_ENV="production")
    response = production.test_client().get("/api/csrf")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert_security_headers(response)
    assert "Strict-Transport-Security" not in app.test_client().get("/api/csrf").headers


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_a_header_the_view_set_is_kept_and_none_is_sent_twice(app):
    @app.get("/api/own-policy-for-test")
    def own_policy():
        return "", 204, {"content-security-policy": "default-src 'none'"}  # any case: header names are not

    response = app.test_client().get("/api/own-policy-for-test")
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_unexpected_errors_keep_the_headers(app):
    @app.get("/api/explode-for-test")
    def explode():
        raise RuntimeError("boom")

    response = app.test_client().get("/api/explode-for-test")
    assert response.status_code == 500
    assert_security_headers(response)


INLINE_CODE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script element without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onload=, ...
    re.compile(r"javascript:", re.I),
]


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_or_style(template):
    text = template.read_text()
    for pattern in INLINE_CODE:
        assert not pattern.search(text), f"{template.name}: {pattern.pattern} is blocked by the CSP"


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
def test_signed_in_answers_are_not_stored_by_caches(app, api, demo):
    anonymous = [api.get("/login"), api.get("/api/csrf"), api.get("/api/me")]
    api.login("alice@acme.test")
    signed_in = [
        api.get("/"),
        api.get("/api/me"),
        api.get("/api/csrf"),
        api.get("/api/deals"),
        api.post(f"/api/deals/{demo['northwind']}/select"),
        api.get("/api/deals/current"),
        api.get("/api/no-such-route"),
    ]
    for response in signed_in:
        assert response.headers.get("Cache-Control") == "no-store", (response.request.path, response.status_code)
    for response in anonymous:
        assert "no-store" not in response.headers.get("Cache-Control", ""), response.request.path
    # Public files keep what they had, cookie or not; the health check keeps its own header.
    static = api.get("/static/app.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()
    health = api.get("/api/health/session")
    assert health.headers["Cache-Control"] == "no-store"  # its own, as before
