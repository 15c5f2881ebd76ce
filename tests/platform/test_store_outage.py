"""A dead or hung Redis, or an unreachable database: clear 503s in bounded time, one log line per
incident, recovery by itself, and no selection lost (``users.last_deal_id`` and auto-restore bring it back).

Each test runs its own redis-server on a spare loopback port (the ``redis_server``
fixture) and kills, freezes or restarts it by pid. The time bounds asserted here
are generous ceilings against hanging (redis-py's defaults would take tens of
seconds), not speed targets; the measured figures are in docs/QUICKREF.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from flask import Flask, request
from prometheus_client import REGISTRY

from tests.support.clients import ApiClient
from tests.support.servers import RedisServer
from tests.support.stacks import POSTGRES_REDIS, SQLITE_REDIS, StackSettings
from tests.support.state import last_deal_id

ON_REDIS_STACKS = pytest.mark.parametrize("stack", [SQLITE_REDIS, POSTGRES_REDIS], indirect=True)

DEAD_CEILING_SECONDS = 3.0  # connection refused: expected well under 0.1 s
HUNG_CEILING_SECONDS = 5.0  # SIGSTOPped server: two 0.5 s socket timeouts, about 1 s


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def store_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("web.platform.session_store.base")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def outage_app(app: Flask, demo: dict[str, int], stack_settings: StackSettings, redis_server: RedisServer) -> Flask:
    """An instance whose sessions live on the test's own redis-server."""
    from web.platform.session_store import base

    base.report_store_recovered()  # start from "store up", whatever an earlier test left behind
    return stack_settings.make_app(REDIS_URL=redis_server.url)


def timed(call):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def assert_unavailable(response, *, api: bool = True) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    assert "Set-Cookie" not in response.headers
    if api:
        assert response.get_json()["error"]["code"] == "session_store_unavailable"
    else:
        assert response.mimetype == "text/html"
        assert "DealDesk cannot reach the service that keeps people signed in." in response.get_data(as_text=True)


@ON_REDIS_STACKS
def test_dead_redis_answers_503_quickly_and_recovers_with_the_selection(outage_app, demo, redis_server, store_log):
    alice = ApiClient(outage_app.test_client())
    alice.login("alice@acme.test")
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    csrf = alice.csrf

    errors_before = REGISTRY.get_sample_value("session_store_errors_total", {"operation": "load"}) or 0.0
    fast_path_errors = REGISTRY.get_sample_value("current_deal_fast_path_total", {"outcome": "store_error"}) or 0.0
    redis_server.stop()
    response, elapsed = timed(lambda: alice.get("/api/deals/current"))
    assert_unavailable(response)
    assert elapsed < DEAD_CEILING_SECONDS
    fast_path_errors_after = REGISTRY.get_sample_value("current_deal_fast_path_total", {"outcome": "store_error"})
    assert fast_path_errors_after == fast_path_errors + 1
    assert_unavailable(alice.get("/"), api=False)
    assert_unavailable(alice.client.post("/api/deals/current", headers={"X-CSRFToken": csrf}))
    newcomer = ApiClient(outage_app.test_client())
    assert newcomer.client.get("/api/csrf").status_code == 200  # a visitor's session is a cookie, not the store's
    assert_unavailable(newcomer.post("/api/auth/login", json={"email": "bob@acme.test", "password": "demo-password"}))
    health, elapsed = timed(lambda: outage_app.test_client().get("/api/health/session"))
    assert health.status_code == 503 and health.get_json()["status"] == "unhealthy"
    assert health.get_json()["checks"]["session_store"]["ok"] is False
    assert elapsed < DEAD_CEILING_SECONDS
    errors_after = REGISTRY.get_sample_value("session_store_errors_total", {"operation": "load"}) or 0.0
    assert errors_after - errors_before >= 3  # every failure is counted, though logged once
    errors = store_log.messages(logging.ERROR)
    assert len(errors) == 1, errors  # once per incident, with its cause
    assert "ConnectionError" in errors[0]

    redis_server.start()  # a fresh, empty server: every session is gone
    assert outage_app.test_client().get("/api/health/session").status_code == 200
    assert alice.get("/api/deals/current").status_code == 401  # signed out, not an error
    alice.login("alice@acme.test")
    assert alice.current_deal_id() == demo["northwind"]  # restored from users.last_deal_id
    assert any("available again" in message for message in store_log.messages(logging.WARNING))


@ON_REDIS_STACKS
def test_store_dying_during_sign_in_is_a_503_not_a_500(stack_settings, app, demo, redis_server):
    # The session loaded fine; the store dies before sign-in writes the new session (in the view).
    flaky = stack_settings.make_app(REDIS_URL=redis_server.url)

    @flaky.before_request
    def kill_store_after_the_load():  # type: ignore[no-untyped-def]
        if request.headers.get("X-Test-Kill-Store"):
            redis_server.stop()

    browser = ApiClient(flaky.test_client())
    response = browser.post(
        "/api/auth/login",
        json={"email": "alice@acme.test", "password": "demo-password"},
        headers={"X-Test-Kill-Store": "1"},
    )
    assert_unavailable(response)
    redis_server.start()
    browser.login("alice@acme.test")
    assert browser.get("/api/me").status_code == 200


@ON_REDIS_STACKS
def test_hung_redis_answers_503_in_bounded_time_and_the_session_survives(outage_app, demo, redis_server):
    bob = ApiClient(outage_app.test_client())
    bob.login("bob@acme.test")
    assert bob.post(f"/api/deals/{demo['tailspin']}/select").status_code == 200

    redis_server.freeze()
    try:
        response, elapsed = timed(lambda: bob.get("/api/deals/current"))
        assert_unavailable(response)
        assert elapsed < HUNG_CEILING_SECONDS
        health, elapsed = timed(lambda: outage_app.test_client().get("/api/health/session"))
        assert health.status_code == 503
        assert elapsed < HUNG_CEILING_SECONDS
    finally:
        redis_server.thaw()

    # The server kept its data: the same session carries on, nothing to restore.
    assert bob.current_deal_id() == demo["tailspin"]
    assert outage_app.test_client().get("/api/health/session").get_json()["status"] in {"healthy", "degraded"}


@ON_REDIS_STACKS
def test_a_selection_is_in_both_stores_before_it_is_answered(stack_settings, app, demo, redis_server):
    """A store that dies after the view cannot turn a selection into a 503 that changed things:
    the session was written before the commit (web.deal_context.service._commit_published)."""
    # Its own instance: the hook that kills the store must be registered before the first request.
    flaky = stack_settings.make_app(REDIS_URL=redis_server.url)

    @flaky.after_request
    def kill_store_before_the_save(response):  # type: ignore[no-untyped-def]
        if request.headers.get("X-Test-Kill-Store"):
            redis_server.stop()
        return response

    dave = ApiClient(flaky.test_client())
    dave.login("dave@acme.test")
    response = dave.post(f"/api/deals/{demo['woodgrove']}/select", headers={"X-Test-Kill-Store": "1"})
    assert response.status_code == 200, response.get_json()
    assert last_deal_id(flaky, demo["dave"]) == demo["woodgrove"]
    assert_unavailable(dave.get("/api/me"))

    redis_server.start()
    dave.login("dave@acme.test")
    assert dave.current_deal_id() == demo["woodgrove"]


# --- The database (not the session store) goes away -------------------------------------------


@pytest.fixture
def database_switch(postgres_url: str) -> Iterator[Callable[[bool], None]]:
    """Refuse (and cut) or allow connections to this run's PostgreSQL database; always allowed again at the end."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    admin = psycopg2.connect(
        dbname="postgres", host=url.host, port=url.port, user=url.username, password=url.password, connect_timeout=3
    )
    admin.autocommit = True

    def switch(available: bool) -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS {str(available).lower()}')
            if not available:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (url.database,),
                )

    try:
        yield switch
    finally:
        switch(True)
        admin.close()


@pytest.mark.parametrize("stack", [POSTGRES_REDIS], indirect=True)
def test_database_outage_is_a_503_and_nothing_is_lost(app, demo, browser, database_switch):
    carol = browser()
    carol.login("carol@globex.test")
    assert carol.post(f"/api/deals/{demo['initech']}/select").status_code == 200

    database_switch(False)
    if app.config["SESSION_BACKEND"] == "redis":
        # The current deal is cached in the session: with Redis up it still answers.
        assert carol.current_deal_id() == demo["initech"]
    response = carol.get("/api/deals")
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"
    health = app.test_client().get("/api/health/session")
    assert health.status_code == 503
    assert health.get_json()["checks"]["database"]["ok"] is False
    assert health.get_json()["checks"]["session_store"]["ok"] is True

    database_switch(True)
    assert carol.current_deal_id() == demo["initech"]
    assert app.test_client().get("/api/health/session").status_code == 200


@ON_REDIS_STACKS
def test_listing_sessions_while_the_store_is_down_lists_every_indexed_one(outage_app, demo, redis_server):
    """The store cannot say which sessions it lost: nothing is left out or forgotten."""
    from web.extensions import db
    from web.identity import session_index

    laptop, phone = ApiClient(outage_app.test_client()), ApiClient(outage_app.test_client())
    laptop.login("alice@acme.test")
    phone.login("alice@acme.test")
    redis_server.stop()
    with outage_app.app_context():
        rows = session_index.list_user_sessions(db.session, demo["alice"])
        db.session.remove()
    assert len(rows) == 2
