"""Counting the SQL a request sends, split between the app and the session store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from psycopg2 import extensions
from sqlalchemy import Engine, event

from web.extensions import db
from web.platform.read_requests import AUTOCOMMIT_OPTION
from web.platform.session_store.sql_store import STORE_EXECUTION_TAG

Listener = Callable[..., None]


@dataclass
class QueryLog:
    app_statements: list[str] = field(default_factory=list)
    store_statements: list[str] = field(default_factory=list)


def from_store(context: Any) -> bool:
    """Whether a statement's execution context is the session store's (tagged ``STORE_EXECUTION_TAG``)."""
    options = context.execution_options if context is not None else {}
    return all(options.get(key) == value for key, value in STORE_EXECUTION_TAG.items())


@contextmanager
def listening_to_statements(engines: Iterable[Engine], record: Listener) -> Iterator[None]:
    """``record`` as the engines' ``before_cursor_execute`` listener while the block runs."""
    engines = list(engines)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@contextmanager
def counting_queries(app: Flask) -> Iterator[QueryLog]:
    """Record the statements sent on the app's engines while the block runs."""
    log = QueryLog()

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        (log.store_statements if from_store(context) else log.app_statements).append(statement)

    with app.app_context():
        engines = {db.engine}
        store_engines = getattr(app.session_interface, "engines", None)
        if store_engines is not None:
            # The SQL store reads through an engine of its own on PostgreSQL.
            engines.update(store_engines())
    with listening_to_statements(engines, record):
        yield log


@contextmanager
def counting_redis_round_trips(app: Flask) -> Iterator[list[str]]:
    """Record the round trips the app's Redis client makes while the block runs: one entry per command
    or pipeline sent, naming its commands (``"GET PTTL"`` for a pipeline of two). A new connection's
    handshake (HELLO, CLIENT SETINFO...) is not counted: the pool is renewed for the count."""
    client = app.extensions["dealdesk_redis"]
    pool = client.connection_pool
    base = pool.connection_class
    round_trips: list[str] = []

    def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
        if not getattr(self, "handshaking", False):
            round_trips.append(_command_names(command))
        base.send_packed_command(self, command, check_health)

    def connect_check_health(self: Any, *args: Any, **kwargs: Any) -> None:
        self.handshaking = True
        try:
            base.connect_check_health(self, *args, **kwargs)
        finally:
            self.handshaking = False

    methods = {"send_packed_command": send_packed_command, "connect_check_health": connect_check_health}
    pool.connection_class = type("CountingConnection", (base,), methods)
    pool.reset()
    try:
        yield round_trips
    finally:
        pool.connection_class = base
        pool.reset()


def _command_names(packed: Any) -> str:
    """The command names in a packed RESP command or pipeline (the first word of each array)."""
    chunks = packed if isinstance(packed, list) else [packed]
    data = b"".join(bytes(chunk) for chunk in chunks)
    names = []
    for request in data.split(b"\r\n*")[0:]:
        parts = request.split(b"\r\n")
        if len(parts) > 2:
            names.append(parts[2].decode(errors="replace").upper())
    return " ".join(names)


# --- Transactions: what psycopg2 was asked to do (web.platform.read_requests) ----------------------------


@dataclass(frozen=True)
class Sent:
    """One statement as the app's engine sent it: its first word, and the connection's mode then."""

    verb: str
    reading_engine: bool  # sent through read_requests.autocommit_engine
    autocommit: bool  # psycopg2's flag (PostgreSQL only)
    in_transaction: bool


@contextmanager
def statements_sent(app: Flask) -> Iterator[list[Sent]]:
    """Each statement the app's engine sends in the block, with psycopg2's mode at that moment
    (the session store's own statements are left out)."""
    sent: list[Sent] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if from_store(context):
            return  # the SQL session store's own statements, on connections of its own
        dbapi = conn.connection.dbapi_connection
        on_postgres = isinstance(dbapi, extensions.connection)
        autocommit = on_postgres and dbapi.autocommit
        in_transaction = on_postgres and dbapi.get_transaction_status() == extensions.TRANSACTION_STATUS_INTRANS
        reading = bool(conn.get_execution_options().get(AUTOCOMMIT_OPTION))
        sent.append(Sent(statement.split(None, 1)[0].upper(), reading, autocommit, in_transaction))

    with app.app_context():
        engine = db.engine
    with listening_to_statements([engine], record):
        yield sent


@contextmanager
def autocommit_at_checkin(app: Flask) -> Iterator[list[bool]]:
    """psycopg2's autocommit flag of each connection the app's engine takes back into its pool in the block,
    as the pool keeps it: recorded by a ``checkin`` listener added after the app's own. (Not by checking the
    connections out again: the pool's ``checkout`` puts them in transaction mode, whatever they came back in.)"""
    flags: list[bool] = []

    def record(dbapi_connection: Any, _record: Any) -> None:
        flags.append(bool(dbapi_connection.autocommit))

    with app.app_context():
        pool = db.engine.pool
    event.listen(pool, "checkin", record)
    try:
        yield flags
    finally:
        event.remove(pool, "checkin", record)
