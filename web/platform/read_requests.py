"""Safe requests read outside a transaction on PostgreSQL, until something writes.

psycopg2 starts every transaction with a ``BEGIN`` round trip of its own, and a request that
only read ends it with the teardown's ``ROLLBACK``: two round trips, and SQLAlchemy's work
around them, for nothing. Under READ COMMITTED (PostgreSQL's default, and what DealDesk runs)
every statement takes its own snapshot whether it runs in a transaction or not, so a read
sees the same either way.

So in a GET, HEAD or OPTIONS request ``RequestSession`` hands out its connections in
PostgreSQL's autocommit mode: each statement is its own transaction, with no ``BEGIN`` and no
``ROLLBACK`` (docs/PERFORMANCE.md, "Where a route's CPU goes"; specs/04 §3). Code that writes during such
a request calls ``begin_writing`` first; from there on the request's statements run in
transactions as in any other request, so a write of several statements stays atomic. A write
sent in autocommit mode without it is a bug, and ``refuse_writes`` raises on it rather than let
it commit statement by statement (``WriteOutsideTransaction``, a 500).

Elsewhere (MariaDB, SQLite) nothing changes: PyMySQL's autocommit switch is a round trip of
its own each way, and SQLite has no round trips to save.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session as OrmSession

# In the session's ``info`` while its statements run outside a transaction.
READS_ONLY = "dealdesk.reads_only"
# The execution option of the engine that hands out autocommit connections (``autocommit_engine``).
AUTOCOMMIT_OPTION = "dealdesk_autocommit"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Statements that only read, by their first word (``WITH`` starts the visibility and listing
# statements; none of DealDesk's writing CTEs runs in a safe request).
READING_KEYWORDS = ("SELECT", "WITH", "SHOW", "EXPLAIN")
# Where an app keeps, per engine, the engine's autocommit variant (``autocommit_engine``).
AUTOCOMMIT_ENGINES = "dealdesk.autocommit_engines"


class WriteOutsideTransaction(RuntimeError):
    """A statement that writes, sent by a safe request that did not call ``begin_writing``."""


class RequestSession(Session):
    """Flask-SQLAlchemy's session, reading outside a transaction while ``READS_ONLY`` is set."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        engine = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if bind is None and self.info.get(READS_ONLY) and isinstance(engine, Engine):
            return autocommit_engine(engine)
        return engine


def autocommit_engine(engine: Engine) -> Engine:
    """``engine`` handing out its connections in psycopg2's autocommit mode (same pool), made once
    per app and engine.

    psycopg2's own switch (``connection.autocommit``), not SQLAlchemy's ``isolation_level``
    option: resetting that one when the connection goes back sends a ``SET
    default_transaction_isolation`` round trip of its own, which is what this saves.
    """
    made: dict[Engine, Engine] = current_app.extensions.setdefault(AUTOCOMMIT_ENGINES, {})
    reading = made.get(engine)
    if reading is None:
        reading = engine.execution_options(**{AUTOCOMMIT_OPTION: True})
        event.listen(reading, "engine_connect", _start_autocommit)
        event.listen(reading, "before_cursor_execute", refuse_writes)
        reading = made.setdefault(engine, reading)  # two threads at once: both use the first one kept
    return reading


def _start_autocommit(connection: Connection) -> None:
    # Not in a transaction: every pooled connection is checked in outside one (the pool's reset).
    connection.connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]


def end_autocommit(dbapi_connection: Any, *_pool_event_arguments: Any) -> None:
    """Pool ``checkout`` and ``checkin``: the connection in transaction mode (psycopg2 sends nothing for
    the switch outside a transaction). At checkout whatever put it back, so a write is never sent
    statement by statement; the autocommit engine turns the mode on after it (``engine_connect``
    comes after the checkout)."""
    if dbapi_connection is not None and not dbapi_connection.closed and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


def refuse_writes(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    """``before_cursor_execute`` of the autocommit engine: only statements that read may run on it."""
    writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    if writes or not statement.lstrip()[:8].upper().startswith(READING_KEYWORDS):
        raise WriteOutsideTransaction(
            f"a {request.method} request wrote without begin_writing(): {statement.split(None, 1)[0]}"
        )


def begin_writing(session: OrmSession) -> None:
    """This request writes: its statements from here on run in transactions (atomic, as elsewhere).

    Ends the session's reading (nothing to commit: every read was its own transaction) so that
    the next statement takes a connection in the engine's own mode.
    """
    if session.info.pop(READS_ONLY, False):
        session.commit()


def register_read_requests(app: Flask, db: SQLAlchemy) -> None:
    """Safe requests on PostgreSQL start out reading outside a transaction (``db``'s session is a
    ``RequestSession``). Registered before every hook that may read or write. On PostgreSQL the
    engine's pool hands out and takes back every connection in transaction mode."""

    def read_outside_transaction() -> None:
        if request.method in SAFE_METHODS and db.engine.dialect.name == "postgresql":
            db.session.info[READS_ONLY] = True

    app.before_request(read_outside_transaction)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        # On the pool, when the app is made, not when the first read makes the autocommit engine: a
        # connection must leave the pool in transaction mode even if no read has run yet, and go back
        # to it in transaction mode. (A pool the engine recreates keeps its listeners.)
        event.listen(engine.pool, "checkout", end_autocommit)
        event.listen(engine.pool, "checkin", end_autocommit)
