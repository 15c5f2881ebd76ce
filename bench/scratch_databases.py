"""Scratch databases of a run's own, on an existing PostgreSQL or MariaDB server, dropped at the end.

Shared by the benchmarks (``bench.routes``, ``bench.scale``; ``recreate_postgres_database`` for the databases
``bench.cluster`` and ``bench.run`` keep between runs) and the test fixtures
(``tests.support.databases``), which add their skip-or-fail rule for a server that cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import pymysql
from sqlalchemy.engine import make_url

MARIADB_CHARSET = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"


def postgres_admin(admin_url: str) -> Any:
    """An autocommit psycopg2 connection to the database of ``admin_url`` (raises ``psycopg2.OperationalError``)."""
    url = make_url(admin_url)
    admin = psycopg2.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        connect_timeout=3,
    )
    admin.autocommit = True
    return admin


def mariadb_admin(admin_url: str) -> pymysql.connections.Connection:
    """An autocommit PyMySQL connection to the server of ``admin_url`` (raises ``pymysql.MySQLError``)."""
    url = make_url(admin_url)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        connect_timeout=3,
        autocommit=True,
    )


def recreate_postgres_database(admin_url: str, name: str) -> None:
    """Drop the database ``name`` of the server of ``admin_url`` if it is there (connections and all), then make it."""
    admin = postgres_admin(admin_url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


@contextmanager
def scratch_postgres_database(admin_url: str, name: str) -> Iterator[str]:
    """A database ``name`` on the PostgreSQL server of ``admin_url``; dropped (connections and all) in ``finally``."""
    admin = postgres_admin(admin_url)
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def scratch_mariadb_database(admin_url: str, name: str) -> Iterator[str]:
    """A utf8mb4 database ``name`` on the MariaDB server of ``admin_url``, as a PyMySQL URL; dropped in ``finally``."""
    with mariadb_admin(admin_url) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` {MARIADB_CHARSET}")
    try:
        yield make_url(admin_url).set(drivername="mysql+pymysql", database=name).render_as_string(hide_password=False)
    finally:
        # A connection of its own: one held for the whole run could have been dropped meanwhile.
        with mariadb_admin(admin_url) as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
