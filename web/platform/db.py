"""Retrying a dropped connection, and per-dialect connection settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys (and so ON DELETE SET NULL) unless asked per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # Readers do not block the writer: several gunicorn threads share one file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def configure_engine(app: Flask, db: SQLAlchemy) -> None:
    """Per-dialect connection settings on the app's engine (SQLite: foreign keys, and WAL for a file)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name == "sqlite":
            event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA foreign_keys=ON"))
