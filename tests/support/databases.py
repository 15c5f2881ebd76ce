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
from sqlalchemy.engine import make_url

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
    admin_url = make_url(TEST_DATABASE_URL)
    connect_args = {
        "host": admin_url.host or "127.0.0.1",
        "port": admin_url.port or 5432,
        "user": admin_url.username,
        "password": admin_url.password,
        "connect_timeout": 3,
    }
    try:
        admin = psycopg2.connect(dbname=admin_url.database, **connect_args)
    except psycopg2.OperationalError as exc:
        require_server("PostgreSQL", str(exc).strip())
    admin.autocommit = True
    name = f"dealdesk_test_{RUN_ID}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _mariadb_admin() -> pymysql.connections.Connection:
    admin_url = make_url(TEST_MARIADB_URL)
    return pymysql.connect(
        host=admin_url.host or "127.0.0.1",
        port=admin_url.port or 3306,
        user=admin_url.username or "root",
        password=admin_url.password or "",
        connect_timeout=3,
        autocommit=True,
    )


@contextmanager
def scratch_mariadb_database() -> Iterator[str]:
    """A database of this run's own on the MariaDB server at ``TEST_MARIADB_URL``; dropped in ``finally``."""
    try:
        admin = _mariadb_admin()
    except pymysql.MySQLError as exc:
        require_server("MariaDB", str(exc).strip())
    name = f"dealdesk_test_{RUN_ID}"
    with admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield (
            make_url(TEST_MARIADB_URL)
            .set(drivername="mysql+pymysql", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        # A connection of its own: one held for the whole run could have been dropped meanwhile.
        with _mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


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
