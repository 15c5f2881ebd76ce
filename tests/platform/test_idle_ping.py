"""A pooled connection is pinged before use only when it sat idle (``web.platform.db.ping_after_idle``).

On PostgreSQL and MariaDB, with the app's own server connections killed from another
connection (``pg_terminate_backend``, ``KILL``): what the pool does with them next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from tests.support.clients import signed_in
from tests.support.stacks import MARIADB_REDIS, POSTGRES_REDIS
from web.extensions import db
from web.identity.models import Role

SERVER_DATABASES = pytest.mark.parametrize("stack", [POSTGRES_REDIS, MARIADB_REDIS], indirect=True, ids=lambda s: s.id)


def kill_app_connections(app: Flask) -> int:
    """Kill every server connection to the app's database but the killer's own; how many were killed."""
    with app.app_context():
        url = db.engine.url
    killer = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as connection:
            if url.get_backend_name() == "postgresql":
                killed = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                return int(killed)
            ids = connection.execute(
                text("SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()")
            ).scalars()
            killed = 0
            for connection_id in list(ids):
                connection.execute(text(f"KILL {int(connection_id)}"))
                killed += 1
            return killed
    finally:
        killer.dispose()


@contextmanager
def counting_pings(app: Flask) -> Iterator[list[int]]:
    """How many times the pool pings (the dialect's own ``do_ping``, still called through)."""
    with app.app_context():
        dialect = db.engine.dialect
    pings: list[int] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        yield pings
    finally:
        del dialect.do_ping


def reader(stack_settings, make, browser, **settings):
    app = stack_settings.make_app(**settings)
    admin = make.user(make.organization(), role=Role.ADMIN)
    deal = make.deal(admin)
    client = signed_in(browser, admin.email, on=app)
    path = f"/api/deals/{deal.id}"
    assert client.get(path).status_code == 200  # the pool holds a connection from here on
    return app, client, path


@SERVER_DATABASES
def test_a_connection_in_steady_use_is_not_pinged(stack_settings, make, browser):
    app, client, path = reader(stack_settings, make, browser, DATABASE_PING_AFTER_IDLE_SECONDS=60)
    with counting_pings(app) as pings:
        for _ in range(3):
            assert client.get(path).status_code == 200
    assert pings == []


@SERVER_DATABASES
def test_a_connection_idle_past_the_threshold_is_pinged_once_per_checkout(stack_settings, make, browser):
    app, client, path = reader(stack_settings, make, browser, DATABASE_PING_AFTER_IDLE_SECONDS=0.05)
    time.sleep(0.1)
    with counting_pings(app) as pings:
        assert client.get(path).status_code == 200
        assert client.get(path).status_code == 200  # back from the pool at once: not idle
    assert pings == [1]


@SERVER_DATABASES
def test_a_connection_killed_while_idle_is_replaced_before_the_request_uses_it(stack_settings, make, browser):
    app, client, path = reader(stack_settings, make, browser, DATABASE_PING_AFTER_IDLE_SECONDS=0.05)
    assert kill_app_connections(app) >= 1
    time.sleep(0.1)
    with counting_pings(app) as pings:
        assert client.get(path).status_code == 200
    assert pings == [1]


@SERVER_DATABASES
def test_a_connection_killed_in_steady_use_costs_one_503_and_the_retry_succeeds(stack_settings, make, browser):
    # The price of not pinging a connection in steady use: the request that meets the dead
    # connection is a 503 (never a 500), and the pool is renewed for the next one.
    app, client, path = reader(stack_settings, make, browser, DATABASE_PING_AFTER_IDLE_SECONDS=60)
    assert kill_app_connections(app) >= 1
    response = client.get(path)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert client.get(path).status_code == 200
