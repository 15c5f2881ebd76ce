"""TRUSTED_PROXIES: the client address behind N proxies, and no spoofing without them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.clients import ApiClient
from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from web.audit.models import AuditEvent
from web.config import ConfigError, build_config
from web.extensions import db

on_two_stacks = pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)


def login_ip(app, forwarded_for: str | None) -> str | None:
    """Sign alice in through ``app`` and return the ip her ``auth.login`` audit event recorded."""
    client = ApiClient(app.test_client())
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = client.post(
        "/api/auth/login", json={"email": "alice@acme.test", "password": "demo-password"}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        ip = db.session.scalar(
            select(AuditEvent.ip).where(AuditEvent.action == "auth.login").order_by(AuditEvent.id.desc()).limit(1)
        )
        db.session.remove()
    return ip


@on_two_stacks
def test_forwarded_for_is_ignored_without_trusted_proxies(app, demo):
    assert app.config["TRUSTED_PROXIES"] == 0
    assert login_ip(app, "203.0.113.9") == "127.0.0.1"


@on_two_stacks
def test_one_trusted_proxy_gives_the_address_it_saw(stack_settings, app, demo):
    behind_proxy = stack_settings.make_app(TRUSTED_PROXIES=1)
    assert login_ip(behind_proxy, "203.0.113.9") == "203.0.113.9"
    # A client that sends its own X-Forwarded-For only prepends to what the proxy appends.
    assert login_ip(behind_proxy, "198.51.100.66, 203.0.113.9") == "203.0.113.9"


@on_two_stacks
def test_two_trusted_proxies_skip_exactly_two_hops(stack_settings, app, demo):
    behind_two = stack_settings.make_app(TRUSTED_PROXIES=2)
    assert login_ip(behind_two, "198.51.100.66, 203.0.113.9, 10.0.0.2") == "203.0.113.9"


@on_two_stacks
def test_forwarded_proto_is_trusted_only_behind_a_proxy(stack_settings, app):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "deals.example.test"}

    @app.get("/api/echo-url-for-test")
    def echo_direct():
        from flask import request

        return {"url": request.url}

    assert (
        app.test_client()
        .get("/api/echo-url-for-test", headers=headers)
        .get_json()["url"]
        .startswith("http://localhost/")
    )
    behind_proxy = stack_settings.make_app(TRUSTED_PROXIES=1)
    behind_proxy.add_url_rule("/api/echo-url-for-test", "echo", echo_direct)
    url = behind_proxy.test_client().get("/api/echo-url-for-test", headers=headers).get_json()["url"]
    assert url.startswith("https://deals.example.test/")


def test_trusted_proxies_must_be_a_count():
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        build_config(env={"TRUSTED_PROXIES": "yes"})
    assert build_config(env={"TRUSTED_PROXIES": "2"})["TRUSTED_PROXIES"] == 2


def failed_sign_ins(app, forwarded_for: list[str]) -> list[int]:
    """One failed sign-in per X-Forwarded-For value, each for another email (only the per-address limit can bite)."""
    statuses = []
    for index, value in enumerate(forwarded_for):
        client = ApiClient(app.test_client())
        response = client.post(
            "/api/auth/login",
            json={"email": f"nobody{index}@acme.test", "password": "wrong"},
            headers={"X-Forwarded-For": value},
        )
        statuses.append(response.status_code)
    return statuses


@on_two_stacks
def test_sign_in_throttle_counts_the_real_address(stack_settings, app, demo):
    spoofed = [f"198.51.100.{n}" for n in range(1, 5)]
    direct = stack_settings.make_app(SIGNIN_LIMIT_PER_IP="3 per minute")
    # Without a trusted proxy every attempt comes from the peer address, whatever the header says.
    assert failed_sign_ins(direct, spoofed) == [401, 401, 401, 429]
    behind_proxy = stack_settings.make_app(SIGNIN_LIMIT_PER_IP="3 per minute", TRUSTED_PROXIES=1)
    assert failed_sign_ins(behind_proxy, spoofed) == [401, 401, 401, 401]  # four different clients


@on_two_stacks
def test_session_index_records_the_client_address(stack_settings, app, demo):
    for hops, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        server = stack_settings.make_app(TRUSTED_PROXIES=hops)
        client = ApiClient(server.test_client())
        headers = {"X-Forwarded-For": "203.0.113.9"}
        response = client.post(
            "/api/auth/login", json={"email": "bob@acme.test", "password": "demo-password"}, headers=headers
        )
        assert response.status_code == 200
        sessions = client.get("/api/sessions", headers=headers).get_json()["sessions"]
        assert next(s["ip"] for s in sessions if s["current"]) == expected, hops
