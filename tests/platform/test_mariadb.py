"""MariaDB specifics: its connection settings and bounded waits (behaviour tests run on it like on the others)."""

from __future__ import annotations

import time

import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.support.clients import signed_in
from tests.support.stacks import MARIADB_SQL
from tests.support.world import EMAILS
from web.extensions import db

ON_MARIADB = pytest.mark.parametrize("stack", [MARIADB_SQL], indirect=True)


def raw_connection(url: str) -> pymysql.connections.Connection:
    parts = make_url(url)
    return pymysql.connect(
        host=parts.host,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        database=parts.database,
        connect_timeout=3,
        autocommit=False,
    )


@ON_MARIADB
def test_connections_are_utc_utf8mb4_read_committed_and_bounded(app):
    with app.app_context(), db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT @@time_zone, @@character_set_connection, @@tx_isolation,"
            " @@innodb_lock_wait_timeout, @@max_statement_time"
        ).one()
    assert tuple(row) == ("+00:00", "utf8mb4", "READ-COMMITTED", 1, 1.0)


@ON_MARIADB
def test_a_row_lock_held_elsewhere_is_a_503_after_the_lock_wait_bound(app, demo, browser, stack_settings):
    """A selection waits for the user's row lock at most innodb_lock_wait_timeout (1 s), then answers 503."""
    alice = signed_in(browser, EMAILS["alice"])
    holder = raw_connection(stack_settings.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (demo["alice"],))
        started = time.monotonic()
        response = alice.post(f"/api/deals/{demo['northwind']}/select")
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    # Cut by the lock wait or by max_statement_time, both 1 s; on this stack the sessions share the database,
    # so the error handler cannot tell the two apart and names either (web.errors).
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"]
    assert waited < 10  # an upper bound on the wait (the lock is held for ever), not a speed assertion
    # Once the lock is gone the same request goes through.
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
