"""Counting the SQL a request sends, split between the app and the session store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event

from web.extensions import db


@dataclass
class QueryLog:
    app_statements: list[str] = field(default_factory=list)
    store_statements: list[str] = field(default_factory=list)


@contextmanager
def counting_queries(app: Flask) -> Iterator[QueryLog]:
    """Record the statements sent on the app's engines while the block runs."""
    log = QueryLog()

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        options = context.execution_options if context is not None else {}
        from_store = options.get("dealdesk_component") == "session_store"
        (log.store_statements if from_store else log.app_statements).append(statement)

    with app.app_context():
        engines = {db.engine}
        store_engines = getattr(app.session_interface, "engines", None)
        if store_engines is not None:
            # The SQL store reads through an engine of its own on PostgreSQL.
            engines.update(store_engines())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


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
