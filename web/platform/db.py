"""Retrying a dropped connection, per-dialect connection settings, and bounded waits on PostgreSQL.

A PostgreSQL that stops answering without closing its connections (a frozen host, a
network partition) must become a 503 within seconds, not a request that hangs. Nothing
on the socket catches a frozen server: its kernel still acknowledges what we send and
answers TCP keepalives (measured: a query on a SIGSTOPped PostgreSQL with keepalives
after 1 s and ``tcp_user_timeout`` 1.5 s waited until the server was resumed). So the
bound is kept by the client: psycopg2's wait callback (``wait_within_bounds``) runs
every wait on the server — connecting, each statement, COMMIT, the pool's pre-ping —
as a ``poll()`` with a deadline. The deadline comes from the connection's class
(``bounded_connection_class``, handed to psycopg2 as ``connection_factory`` in the
engine's ``connect_args``, so every engine built from those arguments has it) and, in
a ``database_deadline`` block, from the block. A wait that runs out raises
``DatabaseNotAnswering``; psycopg2 closes that connection and SQLAlchemy, seeing it
closed, drops it and every other connection of its pool, so the next checkout connects
afresh and recovery needs no stale connection to fail first. Until that server answers
again, one wait at a time is let through to it and the others fail at once
(``SilentServers``).

The wait callback is process-wide (a psycopg2 rule): once installed, every psycopg2
connection of the process is polled by it. A connection that is not bounded waits as
long as libpq would have: its own ``connect_timeout`` while connecting, unbounded after.

Behind PgBouncer in transaction pooling mode (``DATABASE_POOLER=pgbouncer``) the app keeps
nothing on a server connection across transactions: it sends no session-level ``SET``
(``server_statement_timeout_ms``); the server-side statement timeout is the pool's
(docs/DEPLOYMENT.md, "PgBouncer (transaction mode)"), and the client-side bound is unchanged.
"""

from __future__ import annotations

import logging
import math
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, TypeVar

import psycopg2
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from psycopg2 import extensions
from sqlalchemy import URL, Connection, Engine, event
from sqlalchemy.exc import DBAPIError, InvalidatePoolError

log = logging.getLogger(__name__)

T = TypeVar("T")

# libpq treats a connect_timeout below 2 s as 2 s (libpq documentation, "connect_timeout").
LIBPQ_MIN_CONNECT_TIMEOUT = 2
# Connection states in which psycopg2 has finished connecting; any other one is still connecting.
_CONNECTED = frozenset({extensions.STATUS_READY, extensions.STATUS_BEGIN, extensions.STATUS_PREPARED})
# The end of the enclosing ``database_deadline`` block, in time.monotonic() seconds, if any.
_deadline: ContextVar[float | None] = ContextVar("database_deadline", default=None)


class DatabaseNotAnswering(psycopg2.OperationalError):
    """PostgreSQL did not answer within the bound: frozen, partitioned or overloaded (an outage, a 503)."""


def retry_stale_connection(action: Callable[[], T]) -> T:
    """Run ``action`` again once when the first try met a connection the database had dropped.

    For engines that do not pre-ping (a ping per checkout is a round trip): after a
    database restart the first use of each pooled connection fails this way.
    """
    try:
        return action()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return action()


# --- Bounded waits on PostgreSQL ------------------------------------------------------------------

# ``DATABASE_POOLER``: what sits between the app and PostgreSQL. "pgbouncer" means transaction
# pooling: a server connection is another client's between two transactions.
DATABASE_POOLERS = ("none", "pgbouncer")


def server_statement_timeout_ms(statement_seconds: float, *, pooler: str = "none") -> int | None:
    """The ``statement_timeout`` a new connection SETs for its session, or None for no SET.

    None when there is no bound, and behind PgBouncer (transaction pooling), where a session
    setting leaks to other clients and is lost for this one. There the pool sets the server's
    timeout on each server connection it opens (``connect_query``, or the role's own setting):
    no statement per request or per transaction, where ``SET LOCAL`` would add one to each.
    """
    if not statement_seconds or pooler == "pgbouncer":
        return None
    return round(statement_seconds * 1000)


@cache
def bounded_connection_class(
    *,
    connect_seconds: float,
    statement_seconds: float | None,
    server_statement_timeout_ms: int | None,
    pooled: bool = False,
) -> type[extensions.connection]:
    """A psycopg2 connection class whose waits on the server are bounded (pass it as ``connection_factory``).

    ``connect_seconds`` bounds opening the connection (TCP, TLS, authentication, and the
    ``SET`` below); ``statement_seconds`` every later wait (None: unbounded). With
    ``server_statement_timeout_ms`` the connection runs ``SET statement_timeout`` once,
    right after connecting (no extra statement per request). Not behind PgBouncer in
    transaction mode: there the ``SET`` would stay on whichever server connection ran it,
    for other clients, and miss the ones this client's transactions get, so
    ``server_statement_timeout_ms`` passes None for it. ``pooled``: the connection goes to a
    pooler, whose answer to a connect says nothing about PostgreSQL (PgBouncer logs clients in
    itself), so it does not end a silence (``wait_within_bounds``). The same arguments give the
    same class.
    """

    class BoundedConnection(extensions.connection):  # type: ignore[misc]
        connect_answers_for_server = not pooled  # read by wait_within_bounds

        def __init__(self, dsn: str, *args: Any, **kwargs: Any) -> None:
            self.wait_seconds: float | None = connect_seconds  # read by wait_within_bounds
            super().__init__(dsn, *args, **kwargs)
            if server_statement_timeout_ms:
                # Autocommit for the one statement: inside a transaction a later ROLLBACK would undo the SET.
                self.autocommit = True
                with self.cursor() as cursor:
                    cursor.execute(f"SET statement_timeout = {int(server_statement_timeout_ms)}")
                self.autocommit = False
            self.wait_seconds = statement_seconds

    statement = "unbounded" if statement_seconds is None else f"{statement_seconds:g}s"
    BoundedConnection.__qualname__ = BoundedConnection.__name__ = (
        f"BoundedConnection(connect={connect_seconds:g}s, statement={statement})"
    )
    return BoundedConnection


def _libpq_connect_timeout(conn: Any) -> float | None:
    """The ``connect_timeout`` libpq itself would apply to a connection that is not bounded."""
    try:
        raw = extensions.parse_dsn(conn.dsn).get("connect_timeout")
        seconds = int(raw) if raw else 0
    except (psycopg2.ProgrammingError, ValueError):
        return None
    return max(LIBPQ_MIN_CONNECT_TIMEOUT, seconds) if seconds > 0 else None


def _wait_limit(conn: Any) -> float | None:
    if hasattr(conn, "wait_seconds"):
        return conn.wait_seconds
    return None if conn.status in _CONNECTED else _libpq_connect_timeout(conn)


def _server_of(conn: Any) -> str:
    """``host:port`` of the server a connection talks to (from its DSN; the password is not in it)."""
    try:
        parameters = extensions.parse_dsn(conn.dsn)
    except psycopg2.ProgrammingError:
        return ""
    return f"{parameters.get('host', '')}:{parameters.get('port', '')}"


def server_of_url(url: URL) -> str:
    """``host:port`` of the server an engine's URL names, as ``_server_of`` gives it for the engine's connections."""
    return f"{url.host or ''}:{url.port or ''}"


class SilentServers:
    """The servers a wait ran out on, until one answers again; and the one wait let through to each.

    While a server is silent, the first wait on it (any connection, any thread) is the probe
    and waits its whole bound; a wait that starts while the probe is under way fails at once
    instead of tying up its thread for the same silence, so the other requests of a worker
    — warm reads, the health check — are not queued behind a database that does not answer.
    Any answer from the server ends the silence.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}
        self._probing: set[str] = set()

    def any(self) -> bool:
        return bool(self._since)  # read without the lock: a stale answer only delays the check by one wait

    def is_silent(self, server: str) -> bool:
        """Whether ``server`` (``host:port``) is marked silent: it has not answered since a wait on it ran out."""
        return server in self._since

    def admit(self, server: str) -> bool:
        """True: this wait is the probe (call ``probe_done``); False: the server is not silent.
        Raises ``DatabaseNotAnswering`` when another wait is already probing it."""
        with self._lock:
            since = self._since.get(server)
            if since is None:
                return False
            if server in self._probing:
                silent_for = time.monotonic() - since
                raise DatabaseNotAnswering(
                    f"PostgreSQL has not answered for {silent_for:.1f} s; another connection is waiting for it"
                )
            self._probing.add(server)
            return True

    def probe_done(self, server: str) -> None:
        with self._lock:
            self._probing.discard(server)

    def went_silent(self, server: str) -> None:
        with self._lock:
            self._since.setdefault(server, time.monotonic())

    def answered(self, server: str) -> None:
        with self._lock:
            self._since.pop(server, None)


silent_servers = SilentServers()


def wait_within_bounds(conn: Any) -> None:
    """psycopg2's wait callback: wait for the server as libpq would, but never past the bound.

    The bound is the connection's own (``wait_seconds``), cut short by an enclosing
    ``database_deadline``. Raises ``DatabaseNotAnswering`` when it is reached, and at once
    when the server is silent and another wait is already probing it (``SilentServers``).
    """
    limit = _wait_limit(conn)
    # A pooler answers a connect by itself: only PostgreSQL's own answers end a silence.
    proves_answer = conn.status in _CONNECTED or getattr(conn, "connect_answers_for_server", True)
    deadline = None if limit is None else time.monotonic() + limit
    outer = _deadline.get()
    if outer is not None:
        deadline = outer if deadline is None else min(deadline, outer)
    # A wait with no bound of its own (a migration run with the statement bound off) waits as asked.
    server = _server_of(conn) if limit is not None and silent_servers.any() else None
    probing = server is not None and silent_servers.admit(server)
    try:
        _poll_until(conn, deadline, limit)
    except DatabaseNotAnswering:
        silent_servers.went_silent(server if server is not None else _server_of(conn))
        raise
    finally:
        if probing:
            silent_servers.probe_done(server)  # type: ignore[arg-type]
    if server is not None and proves_answer:
        silent_servers.answered(server)


def _poll_until(conn: Any, deadline: float | None, limit: float | None) -> None:
    """Drive psycopg2's non-blocking I/O until it is done, waiting on the socket until ``deadline`` at most."""
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        if state == extensions.POLL_READ:
            events = select.POLLIN
        elif state == extensions.POLL_WRITE:
            events = select.POLLOUT
        else:
            raise psycopg2.OperationalError(f"unexpected psycopg2 poll state {state!r}")
        poller = select.poll()
        poller.register(conn.fileno(), events)
        timeout_ms = None if deadline is None else max(0.0, (deadline - time.monotonic()) * 1000)
        if not poller.poll(timeout_ms):
            waited = "" if limit is None else f" within {limit:g} s"
            raise DatabaseNotAnswering(f"PostgreSQL did not answer{waited} (the connection is dropped)")


@contextmanager
def database_deadline(seconds: float) -> Iterator[None]:
    """Every wait on PostgreSQL inside the block ends ``seconds`` from now at the latest (the health check's budget)."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(end, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def without_statement_bounds(connection: Connection) -> Iterator[None]:
    """Lift the statement bounds of one PostgreSQL connection while the block runs, then put them back.

    For migrations: a long ``ALTER TABLE`` is work, not an outage, and must not be cancelled at
    ``DATABASE_STATEMENT_TIMEOUT_SECONDS``. Both bounds go: the server's ``statement_timeout``
    (a session setting, committed at once so the block's own transaction handling is untouched)
    and the client's wait (``wait_seconds``). The connect bound stays. Elsewhere a no-op.
    Run it on a direct connection to PostgreSQL, never through PgBouncer in transaction mode
    (the session SETs would land on shared server connections): migrations connect directly.
    """
    if connection.dialect.name == "mysql":
        with _without_mysql_statement_bounds(connection):
            yield
        return
    if connection.dialect.name != "postgresql":
        yield
        return
    dbapi_connection = connection.connection.dbapi_connection
    bounded = hasattr(dbapi_connection, "wait_seconds")
    previous_wait = getattr(dbapi_connection, "wait_seconds", None)
    previous_timeout = connection.exec_driver_sql("SHOW statement_timeout").scalar()
    connection.exec_driver_sql("SET statement_timeout = 0")
    connection.commit()
    if bounded:
        dbapi_connection.wait_seconds = None
    try:
        yield
    finally:
        if bounded:
            dbapi_connection.wait_seconds = previous_wait
        connection.exec_driver_sql(
            "SELECT set_config('statement_timeout', %(value)s, false)", {"value": previous_timeout}
        )
        connection.commit()


def install_wait_callback() -> None:
    """Make psycopg2 wait through ``wait_within_bounds`` (process-wide; idempotent)."""
    current = extensions.get_wait_callback()
    if current is wait_within_bounds:
        return
    if current is not None:
        # A coroutine library's callback (psycogreen): replacing it would block its event loop.
        log.warning("psycopg2 already has a wait callback (%r); database waits are not bounded", current)
        return
    extensions.set_wait_callback(wait_within_bounds)


# --- Pooled connections that may have died -------------------------------------------------------

_IDLE_SINCE = "dealdesk_idle_since"


def ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it sat idle in the pool ``idle_seconds`` or longer (0: always).

    In place of ``pool_pre_ping``, which pings at every checkout: a round trip more on every
    request that reads the database, about a tenth of a selection's time under gunicorn
    (docs/PERFORMANCE.md). A connection that sat idle is the one a server restart, an idle
    timeout or a firewall may have closed unseen: it is pinged, and a dead one is replaced (with
    every connection opened before it: the pool is invalidated) before the request uses it. A
    connection in steady use is not: if the server goes away under it, its next statement fails,
    that request is a 503, and SQLAlchemy invalidates the pool the same way.
    """

    @event.listens_for(engine, "checkin")
    def remember_when_idle(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # a new connection, or one in steady use
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            # As pool_pre_ping does: the pool drops this connection and those opened before it, and tries again.
            raise InvalidatePoolError(f"pooled connection idle {time.monotonic() - since:.1f} s was dead") from exc


# --- Per-dialect settings -------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys (and so ON DELETE SET NULL) unless asked per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # Readers do not block the writer: several gunicorn threads share one file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def configure_engine(app: Flask, db: SQLAlchemy) -> None:
    """Per-dialect connection settings on the app's engine (SQLite: foreign keys, and WAL for a file;
    PostgreSQL: the bounded waits, whose bounds ``web.config.engine_options`` put in ``connect_args``;
    a server: the ping of a connection that sat idle)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name in ("postgresql", "mysql"):
            ping_after_idle(engine, float(app.config["DATABASE_PING_AFTER_IDLE_SECONDS"]))
        if engine.dialect.name == "postgresql":
            install_wait_callback()
        elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name == "sqlite":
            event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA foreign_keys=ON"))


# --- MariaDB / MySQL ------------------------------------------------------------------------------

# MariaDB waits for a row lock at most this long by default when the statement bound is off
# (a migration): its own default, 50 s.
MYSQL_DEFAULT_LOCK_WAIT_SECONDS = 50


def mysql_session_settings(statement_seconds: float | None) -> str:
    """The one ``SET`` PyMySQL runs on every new MariaDB/MySQL connection (its ``init_command``).

    UTC as the session time zone (DATETIME columns hold naive UTC; ``NOW()`` must agree),
    and with ``statement_seconds`` the server-side bounds: a row lock waits at most that long
    (``innodb_lock_wait_timeout``, whole seconds, at least 1) and, on MariaDB, any statement
    runs at most that long (``max_statement_time``, in a ``/*M! */`` comment that only MariaDB
    executes; MySQL has no equivalent for writes, and PyMySQL's read timeout bounds it there).
    """
    settings = "SET time_zone = '+00:00'"
    if statement_seconds:
        lock_wait = max(1, math.ceil(statement_seconds))
        settings += (
            f", innodb_lock_wait_timeout = {lock_wait} /*M!100108 , max_statement_time = {statement_seconds:g} */"
        )
    return settings


@contextmanager
def _without_mysql_statement_bounds(connection: Connection) -> Iterator[None]:
    """``without_statement_bounds`` on MariaDB/MySQL: the server's bounds and PyMySQL's read timeout."""
    dbapi_connection = connection.connection.dbapi_connection
    previous_read_timeout = getattr(dbapi_connection, "_read_timeout", None)
    mariadb = bool(connection.dialect.is_mariadb)
    previous = connection.exec_driver_sql(
        "SELECT @@innodb_lock_wait_timeout, @@max_statement_time" if mariadb else "SELECT @@innodb_lock_wait_timeout, 0"
    ).one()
    lift = f"SET innodb_lock_wait_timeout = {MYSQL_DEFAULT_LOCK_WAIT_SECONDS}"
    connection.exec_driver_sql(lift + (", max_statement_time = 0" if mariadb else ""))
    connection.commit()
    # PyMySQL applies _read_timeout to its socket before every read (it has no public setter).
    dbapi_connection._read_timeout = None
    try:
        yield
    finally:
        dbapi_connection._read_timeout = previous_read_timeout
        restore = f"SET innodb_lock_wait_timeout = {int(previous[0])}"
        if mariadb:
            restore += f", max_statement_time = {float(previous[1]):g}"
        connection.exec_driver_sql(restore)
        connection.commit()
