"""Per-run databases: a scratch PostgreSQL database, migration, emptying tables, Redis keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pymysql
import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from bench import scratch_databases
from bench.scratch_databases import mariadb_admin, postgres_admin
from tests.support.stacks import RUN_ID, TEST_DATABASE_URL, TEST_MARIADB_URL, require_server
from web import create_app
from web.extensions import db


def migrate_database(url: str) -> None:
    """Run the migration chain on ``url`` (an app of its own, disposed of at once)."""
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "SESSION_BACKEND": "sqlalchemy"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A database of this run's own on the server at ``TEST_DATABASE_URL``; dropped in ``finally``."""
    try:
        postgres_admin(TEST_DATABASE_URL).close()
    except psycopg2.OperationalError as exc:
        require_server("PostgreSQL", str(exc).strip())
    with scratch_databases.scratch_postgres_database(TEST_DATABASE_URL, f"dealdesk_test_{RUN_ID}") as url:
        yield url


@contextmanager
def scratch_mariadb_database() -> Iterator[str]:
    """A database of this run's own on the MariaDB server at ``TEST_MARIADB_URL``; dropped in ``finally``."""
    try:
        mariadb_admin(TEST_MARIADB_URL).close()
    except pymysql.MySQLError as exc:
        require_server("MariaDB", str(exc).strip())
    with scratch_databases.scratch_mariadb_database(TEST_MARIADB_URL, f"dealdesk_test_{RUN_ID}") as url:
        yield url


def truncate_all(app: Flask) -> None:
    """Empty every table, so each test starts from nothing."""
    with app.app_context():
        tables = [table.name for table in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            elif conn.dialect.name == "mysql":
                # TRUNCATE refuses a table other tables' foreign keys point at, unless the checks are off
                # (for this connection only; put back before it returns to the pool).
                conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
                for table in tables:
                    conn.execute(text(f"TRUNCATE TABLE {table}"))
                conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
            else:
                conn.execute(text("UPDATE users SET last_deal_id = NULL"))
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))


def delete_redis_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def check_redis(url: str) -> None:
    """Ping Redis at ``url``; an unreachable one skips (or in CI fails) the test."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        require_server("Redis", str(exc))
    finally:
        client.close()
