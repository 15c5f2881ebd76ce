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
