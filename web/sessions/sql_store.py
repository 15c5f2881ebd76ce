"""SQL session store on its own connection and transaction.

Flask-Session 0.8's SQLAlchemy backend saves through the application's
``db.session`` and commits it, so a row a failed view added would be committed
with the session. This store never touches ``db.session``: each operation is one
short transaction on its own connection, tagged so query counters can tell it apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from web.models import SessionRecord, utcnow
from web.sessions.base import MERGE_ATTEMPTS, MergingSessionInterface, SessionStoreError, merge_changes

STORE_EXECUTION_TAG = {"dealdesk_component": "session_store"}


class SqlMergingSessionInterface(MergingSessionInterface):
    def __init__(self, app: Flask, *, engine: Callable[[], Engine], key_prefix: str, touch_interval: float) -> None:
        # The engine is looked up lazily: nothing connects while the app is being built.
        self._engine = engine
        super().__init__(app, key_prefix=key_prefix, touch_interval=touch_interval)

    def store_errors(self) -> tuple[type[BaseException], ...]:
        return (OperationalError,)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._engine().connect() as conn:
            conn = conn.execution_options(**STORE_EXECUTION_TAG)
            with conn.begin():
                yield conn

    def _expiry(self) -> Any:
        return utcnow() + self.lifetime

    def load_from_store(self, store_id: str) -> tuple[bytes, float] | None:
        with self._transaction() as conn:
            row = conn.execute(
                select(SessionRecord.data, SessionRecord.expiry).where(SessionRecord.session_id == store_id)
            ).first()
        if row is None:
            return None
        remaining = (row.expiry - utcnow()) / timedelta(seconds=1)
        if remaining <= 0:
            return None  # expired; the cleanup job deletes the row
        return bytes(row.data), remaining

    def insert_into_store(self, store_id: str, data: bytes) -> None:
        with self._transaction() as conn:
            conn.execute(insert(SessionRecord).values(session_id=store_id, data=data, expiry=self._expiry(), version=1))

    def touch_in_store(self, store_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                update(SessionRecord).where(SessionRecord.session_id == store_id).values(expiry=self._expiry())
            )

    def delete_from_store(self, store_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(delete(SessionRecord).where(SessionRecord.session_id == store_id))

    def merge_into_store(self, store_id: str, updated: dict[str, Any], removed: set[str]) -> bool:
        for attempt in range(MERGE_ATTEMPTS):
            try:
                with self._transaction() as conn:
                    row = conn.execute(
                        select(SessionRecord.data, SessionRecord.version, SessionRecord.expiry).where(
                            SessionRecord.session_id == store_id
                        )
                    ).first()
                    if row is None or row.expiry <= utcnow():
                        return False
                    merged = merge_changes(self.serializer.decode(bytes(row.data)), updated, removed)
                    # Conditional on the version read: a concurrent writer makes this match no row.
                    result = conn.execute(
                        update(SessionRecord)
                        .where(SessionRecord.session_id == store_id, SessionRecord.version == row.version)
                        .values(data=self.serializer.encode(merged), expiry=self._expiry(), version=row.version + 1)
                    )
                    if result.rowcount == 1:
                        return True
            except DBAPIError as exc:
                # SQLite reports a lost write race as "database is locked"; retry like a conflict.
                if not _is_lock_conflict(exc):
                    raise
            self.retry_pause(attempt)
        raise SessionStoreError(f"could not merge session changes after {MERGE_ATTEMPTS} attempts")


def _is_lock_conflict(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "deadlock detected" in message or "could not serialize" in message
