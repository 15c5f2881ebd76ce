"""A PostgreSQL that stops answering: 503 within 2 s, health 503 within 2 s, recovery on its own within 5 s.

The frozen server is one of the test's own (``tests.support.postgres_server``: initdb on
a spare loopback port), stopped with SIGSTOP by pid — postmaster and every backend —
which is what a network partition or a hung host looks like: connections are accepted
and what is sent is acknowledged, and nothing answers. TCP keepalives do not notice
that (the server's kernel answers them); the client's bounded waits
(``web.platform.db.wait_within_bounds``) do. Also here: a statement the server cancels
at ``statement_timeout`` is a 503 too, and the bounds as configured.

The time ceilings asserted are generous against a loaded machine; the expected figures
(printed with ``-s``) are about 1.8 s for the first request, 0.5 s for the next and 0.25 s
for the health check once the database is known silent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import text

from tests.support.clients import ApiClient
from tests.support.databases import delete_redis_keys, migrate_database, truncate_all
from tests.support.factories import Factories
from tests.support.postgres_server import PostgresServer, private_postgres_server
from tests.support.stacks import POSTGRES_REDIS, POSTGRES_SQL, Stack, stack_config
from tests.support.world import EMAILS, build_world
from web import create_app
from web.config import STATEMENT_TIMEOUT_GRACE_SECONDS, build_config
from web.extensions import db
from web.platform.db import DatabaseNotAnswering
from web.platform.outages import database_incident, is_outage

ON_POSTGRES = pytest.mark.parametrize("stack", [POSTGRES_SQL, POSTGRES_REDIS], indirect=True)
HEALTH = "/api/health/session"
ANSWER_CEILING_SECONDS = 3.0  # promised: 2 s
RECOVERY_WITHIN_SECONDS = 5.0


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def outage_code(stack: Stack) -> str:
    # On SQL sessions every request first loads its session from the frozen database: the store's 503.
    return "database_unavailable" if stack.sessions == "redis" else "session_store_unavailable"


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A server of this module's own, with one migrated database; stopped at the end of the module."""
    with private_postgres_server() as server:
        url = server.create_database("dealdesk")
        migrate_database(url)
        yield server, url


@pytest.fixture
def frozen_db_app(
    stack: Stack, private_postgres: tuple[PostgresServer, str], request: pytest.FixtureRequest
) -> Iterator[Flask]:
    """The app on the private server (and on the shared Redis for Redis sessions); the server thawed after."""
    server, url = private_postgres
    redis_url = request.getfixturevalue("redis_url") if stack.sessions == "redis" else None
    config = stack_config(stack, database_url=url, redis_url=redis_url)
    app = create_app(config)
    truncate_all(app)
    try:
        yield app
    finally:
        server.thaw()
        with app.app_context():
            db.engine.dispose()
        client = app.extensions.get("dealdesk_redis")
        if client is not None:
            client.close()
        if redis_url is not None:
            delete_redis_keys(redis_url, config["SESSION_KEY_PREFIX"])


def assert_outage(response: Any, code: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


def wait_for_recovery(alice: ApiClient, health: Any, within: float) -> float:
    """Poll a database request and the health check until both answer 200; seconds it took."""
    started = time.monotonic()
    while True:
        if alice.get("/api/deals").status_code == 200 and health.get(HEALTH).status_code == 200:
            return time.monotonic() - started
        assert time.monotonic() - started < within, "no recovery within the bound"
        time.sleep(0.05)


@ON_POSTGRES
def test_frozen_database_answers_503_within_2s_and_recovers_on_its_own(stack, frozen_db_app, private_postgres):
    server, _ = private_postgres
    ids = build_world(Factories(frozen_db_app))
    alice, bob = ApiClient(frozen_db_app.test_client()), ApiClient(frozen_db_app.test_client())
    alice.login(EMAILS["alice"])
    bob.login(EMAILS["bob"])
    assert alice.post(f"/api/deals/{ids['northwind']}/select").status_code == 200
    health = frozen_db_app.test_client()
    assert health.get(HEALTH).status_code == 200
    code = outage_code(stack)

    server.freeze()
    try:
        # The pool's idle connection is pinged (statement bound), then one reconnect (connect bound).
        first, first_s = timed(lambda: alice.get("/api/deals"))
        # The pool was dropped with the first failure: only the reconnect now.
        second, second_s = timed(lambda: alice.post(f"/api/deals/{ids['contoso']}/select"))
        # While one request waits for the silent database (bob's), another fails at once.
        waiting = threading.Thread(target=bob.get, args=("/api/deals",))
        waiting.start()
        time.sleep(0.1)
        meanwhile, meanwhile_s = timed(lambda: alice.get("/api/deals"))
        waiting.join(timeout=ANSWER_CEILING_SECONDS)
        checked, health_s = timed(lambda: health.get(HEALTH))
    finally:
        server.thaw()
    thawed_at = time.monotonic()
    recovery_s = wait_for_recovery(alice, health, RECOVERY_WITHIN_SECONDS)

    print(
        f"\n{stack.id}: first request {first_s:.2f} s, second {second_s:.2f} s, one while another waits"
        f" {meanwhile_s:.2f} s, health {health_s:.2f} s, recovered {recovery_s:.2f} s after SIGCONT"
    )
    assert_outage(first, code)
    assert_outage(second, code)
    assert_outage(meanwhile, code)
    assert meanwhile_s < 0.3 and not waiting.is_alive()
    assert checked.status_code == 503
    document = checked.get_json()
    assert document["status"] == "unhealthy" and document["checks"]["database"]["ok"] is False
    assert first_s < ANSWER_CEILING_SECONDS and second_s < ANSWER_CEILING_SECONDS
    assert health_s < ANSWER_CEILING_SECONDS
    assert time.monotonic() - thawed_at < RECOVERY_WITHIN_SECONDS + 1
    # The selection answered 503 changed nothing; the same one now succeeds.
    assert alice.current_deal_id() == ids["northwind"]
    assert alice.post(f"/api/deals/{ids['contoso']}/select").status_code == 200
    assert alice.current_deal_id() == ids["contoso"]


@pytest.mark.parametrize("stack", [POSTGRES_REDIS], indirect=True)
def test_the_health_check_of_a_database_known_silent_answers_at_once_and_sees_it_come_back(
    stack, frozen_db_app, private_postgres
):
    """Once a wait has run out on the database, the check asks it with a short budget (``database_budget``):
    under load the poll may have queued behind requests waiting on the same silence, and a full
    second on top made the fault run's health check late. Alone, it still notices the return."""
    server, _ = private_postgres
    build_world(Factories(frozen_db_app))
    alice = ApiClient(frozen_db_app.test_client())
    alice.login(EMAILS["alice"])
    health = frozen_db_app.test_client()
    assert health.get(HEALTH).status_code == 200

    server.freeze()
    try:
        first, _ = timed(lambda: alice.get("/api/deals"))  # its wait runs out: the database is known silent
        checked, health_s = timed(lambda: health.get(HEALTH))
    finally:
        server.thaw()
    thawed_at = time.monotonic()
    back = health.get(HEALTH)  # no other request in between: the check itself learns that it answers
    back_s = time.monotonic() - thawed_at

    print(f"\nhealth while known silent {health_s:.2f} s; healthy again {back_s:.2f} s after SIGCONT")
    assert_outage(first, outage_code(stack))
    assert checked.status_code == 503 and checked.get_json()["checks"]["database"]["ok"] is False
    assert health_s < 0.75  # the full budget (HEALTH_DB_TIMEOUT_SECONDS) is 1 s
    assert back.status_code == 200, back.get_data(as_text=True)


@pytest.mark.parametrize("stack", [POSTGRES_REDIS], indirect=True)
def test_a_connection_that_is_not_bounded_keeps_its_libpq_connect_timeout(stack, frozen_db_app, private_postgres):
    # The wait callback is process-wide once an app runs on PostgreSQL; a psycopg2 connection of
    # someone else's (a script, a test helper) still gives up when libpq would have (2 s at least).
    server, url = private_postgres
    server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseNotAnswering):
            psycopg2.connect(url, connect_timeout=1)
        elapsed = time.monotonic() - started
    finally:
        server.thaw()
    assert 1.9 < elapsed < ANSWER_CEILING_SECONDS


class OutageLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def outage_log() -> Iterator[OutageLog]:
    handler = OutageLog()
    logger = logging.getLogger("web.platform.outages")
    logger.addHandler(handler)
    database_incident.recovered()  # start from "database up": the next failure is logged
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        database_incident.recovered()


@ON_POSTGRES
def test_a_statement_cancelled_at_statement_timeout_is_a_503_that_changed_nothing(
    stack, app, demo, api, postgres_url, outage_log
):
    api.login(EMAILS["alice"])
    assert api.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    with app.app_context():
        # Set by each connection right after connecting (a SET, not the "options" startup parameter).
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "1s"
        db.session.remove()
    # Another client holds alice's row: the selection's UPDATE waits until the server cancels it.
    holder = psycopg2.connect(postgres_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (demo["alice"],))
        response, elapsed = timed(lambda: api.post(f"/api/deals/{demo['contoso']}/select"))
    finally:
        holder.rollback()
        holder.close()

    print(f"\n{stack.id}: cancelled at statement_timeout, answered in {elapsed:.2f} s")
    assert_outage(response, outage_code(stack))
    # The server's cancel came first: no connection was given up on.
    assert elapsed < 1.0 + STATEMENT_TIMEOUT_GRACE_SECONDS
    if stack.sessions == "redis":
        assert any("canceling statement due to statement timeout" in m for m in outage_log.messages)
    assert api.current_deal_id() == demo["northwind"]
    assert api.post(f"/api/deals/{demo['contoso']}/select").status_code == 200


def test_timeouts_and_cancellations_are_outages():
    from sqlalchemy.exc import OperationalError

    cancelled = OperationalError("UPDATE users ...", {}, psycopg2.errors.QueryCanceled("statement timeout"))
    not_answering = OperationalError("SELECT 1", {}, DatabaseNotAnswering("did not answer"))
    assert is_outage(cancelled) and is_outage(not_answering)


def test_every_wait_on_postgresql_is_bounded_and_sqlite_is_left_alone():
    options = build_config(env={"DATABASE_URL": "postgresql://db/x"})["SQLALCHEMY_ENGINE_OPTIONS"]
    args = options["connect_args"]
    assert options["pool_timeout"] == 1.0
    assert "options" not in args  # PgBouncer refuses unknown startup parameters
    assert (args["keepalives"], args["keepalives_idle"], args["tcp_user_timeout"]) == (1, 5, 11_000)
    factory = args["connection_factory"]
    assert factory.__name__ == "BoundedConnection(connect=0.5s, statement=1.25s)"

    tuned = build_config(
        env={
            "DATABASE_URL": "postgresql://db/x",
            "DATABASE_STATEMENT_TIMEOUT_SECONDS": "0",
            "DATABASE_CONNECT_TIMEOUT_SECONDS": "3",
            "DATABASE_POOL_TIMEOUT_SECONDS": "2",
        }
    )["SQLALCHEMY_ENGINE_OPTIONS"]
    assert tuned["pool_timeout"] == 2.0
    assert tuned["connect_args"]["connect_timeout"] == 3
    assert tuned["connect_args"]["connection_factory"].__name__ == "BoundedConnection(connect=3s, statement=unbounded)"

    for url in ("sqlite://", "sqlite:////tmp/x.db"):
        sqlite = build_config(env={"DATABASE_URL": url})["SQLALCHEMY_ENGINE_OPTIONS"]
        assert "connection_factory" not in sqlite["connect_args"] and "pool_timeout" not in sqlite
