"""SQL session store on its own connection and transaction.

Flask-Session 0.8's SQLAlchemy backend saves through the application's
``db.session`` and commits it, so a row a failed view added would be committed
with the session. This store never touches ``db.session``: each operation is one
short transaction on its own connection, tagged so query counters can tell it apart.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, Select, Update, bindparam, create_engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from web.platform.db import retry_stale_connection
from web.platform.models import utcnow
from web.platform.session_store.base import (
    MERGE_ATTEMPTS,
    MergingSessionInterface,
    SessionStoreError,
    Transform,
)
from web.platform.session_store.models import SessionRecord

STORE_EXECUTION_TAG = {"dealdesk_component": "session_store"}
_reader_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def close_store_connections() -> None:
    """Close the pooled connections of every store read engine in this process (tests call it between tests)."""
    for engine in list(_reader_engines):
        engine.dispose()


# The application transaction session writes join (``joining``), in this context (thread or task) only.
_joined_transaction: ContextVar[Connection | None] = ContextVar("dealdesk_joined_session_transaction", default=None)


class _TaggedStatements:
    """The application's connection, joined: each statement carries the store's tag (query counters tell
    them apart), the connection itself does not (it goes on with the application's statements)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters, execution_options=STORE_EXECUTION_TAG)

    def scalars(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.scalars(statement, parameters, execution_options=STORE_EXECUTION_TAG)


class SqlMergingSessionInterface(MergingSessionInterface):
    def __init__(self, app: Flask, *, engine: Callable[[], Engine], key_prefix: str, touch_interval: float) -> None:
        # The engine is looked up lazily: nothing connects while the app is being built.
        self._engine = engine
        self._reader: Engine | None = None
        self._reader_source: Engine | None = None
        super().__init__(app, key_prefix=key_prefix, touch_interval=touch_interval)

    def store_errors(self) -> tuple[type[BaseException], ...]:
        return (OperationalError,)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        joined = _joined_transaction.get()
        if joined is not None:
            yield cast(Connection, _TaggedStatements(joined))
            return
        with self._engine().connect() as conn:
            conn = conn.execution_options(**STORE_EXECUTION_TAG)
            with conn.begin():
                yield conn

    @contextmanager
    def joining(self, connection: Connection) -> Iterator[None]:
        """Write sessions on ``connection``, in its open transaction, while the block runs.

        For the application's own transaction on the same database: the session row and the
        change it mirrors then commit or roll back together. (On SQLite it is also the only
        way: a second connection would wait for the first one's write lock.)
        """
        if connection.engine is not self._engine():
            yield
            return
        token = _joined_transaction.set(connection)
        try:
            yield
        finally:
            _joined_transaction.reset(token)

    def _expiry(self) -> Any:
        return utcnow() + self.lifetime

    def engines(self) -> set[Engine]:
        """Every engine the store uses, its read engine made if it was not yet (query counters listen on them)."""
        return {self._engine(), self._read_engine()}

    def _read_engine(self) -> Engine:
        """For loads: on PostgreSQL and MariaDB/MySQL an engine of the store's own, autocommit and not pre-pinged.

        A load is one SELECT: with the app engine it was three round trips (the pool's
        pre-ping, the SELECT, the COMMIT); here it is one, and a connection the
        server dropped is retried once instead of pinged every time (``retry_stale_connection``).
        SQLite has no round trips to save.
        """
        engine = self._engine()
        if engine.dialect.name not in ("postgresql", "mysql"):
            return engine
        if self._reader is None or self._reader_source is not engine:
            options = current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
            self._reader = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_size=int(options.get("pool_size", 5)),
                max_overflow=int(options.get("max_overflow", 10)),
                pool_timeout=options.get("pool_timeout", 30),
                pool_recycle=options.get("pool_recycle", -1),
                connect_args=options.get("connect_args", {}),
            )
            self._reader_source = engine
            _reader_engines.add(self._reader)
        return self._reader

    def existing_store_ids(self, store_ids: list[str]) -> set[str]:
        if not store_ids:
            return set()
        with self._transaction() as conn:
            found = conn.scalars(_existing_statement(), {"ids": store_ids, "now": utcnow()})
            return set(found)

    def load_from_store(self, store_id: str) -> tuple[bytes, float] | None:
        def read() -> Any:
            with self._read_engine().connect() as conn:
                tagged = conn.execution_options(**STORE_EXECUTION_TAG)
                return tagged.execute(_load_statement(), {"sid": store_id}).first()

        row = retry_stale_connection(read)
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
            conn.execute(_touch_statement(), {"sid": store_id, "new_expiry": self._expiry()})

    def delete_from_store(self, store_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(delete(SessionRecord).where(SessionRecord.session_id == store_id))

    def merge_into_store(
        self, store_id: str, updated: dict[str, Any], removed: set[str], *, extend: bool, known: bytes | None = None
    ) -> bool:
        """With the copy the request read (``known``), and no expiry to move, first one UPDATE conditional on the
        row still holding exactly those bytes: a merge nobody raced costs no second read. Otherwise (someone wrote
        meanwhile, the session is gone, or the expiry moves) the read-merge-update below decides."""
        if known is not None and not extend:
            merged = self.serializer.encode(self.merging(updated, removed)(self.serializer.decode(known)))
            try:
                if self._replace_if_unchanged(store_id, known, merged):
                    return True
            except DBAPIError as exc:
                if not _is_lock_conflict(exc):
                    raise
        return super().merge_into_store(store_id, updated, removed, extend=extend)

    def _replace_if_unchanged(self, store_id: str, known: bytes, merged: bytes) -> bool:
        # By primary key and bytes only: a range on the expiry would let MariaDB lock entries of the expiry
        # index, against a touch's update of the same index (a deadlock seen in test_concurrency). The expiry
        # is not moved, so an expired row stays expired.
        with self._transaction() as conn:
            result = conn.execute(_replace_statement(), {"sid": store_id, "known": known, "merged": merged})
            return result.rowcount == 1

    def update_in_store(self, store_id: str, transform: Transform, *, extend: bool) -> bool:
        for attempt in range(MERGE_ATTEMPTS):
            try:
                outcome = self._update_once(store_id, transform, extend)
            except DBAPIError as exc:
                # SQLite reports a lost write race as "database is locked"; retry like a conflict.
                if not _is_lock_conflict(exc):
                    raise
                outcome = None
            if outcome is not None:
                return outcome
            self.retry_pause(attempt)
        raise SessionStoreError(f"could not update the session after {MERGE_ATTEMPTS} attempts")

    def _update_once(self, store_id: str, transform: Transform, extend: bool) -> bool | None:
        """One optimistic attempt: True done, False gone, None lost a race (retry)."""
        with self._transaction() as conn:
            row = conn.execute(
                select(SessionRecord.data, SessionRecord.version, SessionRecord.expiry).where(
                    SessionRecord.session_id == store_id
                )
            ).first()
            if row is None or row.expiry <= utcnow():
                return False
            data = transform(self.serializer.decode(bytes(row.data)))
            if data is None and not extend:
                return True
            values: dict[str, Any] = {"version": row.version + 1}
            if data is not None:
                values["data"] = self.serializer.encode(data)
            if extend:
                values["expiry"] = self._expiry()
            # Conditional on the version read: a concurrent writer makes this match no row.
            result = conn.execute(
                update(SessionRecord)
                .where(SessionRecord.session_id == store_id, SessionRecord.version == row.version)
                .values(**values)
            )
            return True if result.rowcount == 1 else None


# Built once with bound parameters (their names unlike the columns': SQLAlchemy would put a parameter named
# after a column of the updated table into the SET clause). Built per call, a statement's cache key is
# computed on every execution.
@functools.cache
def _touch_statement() -> Update:
    return (
        update(SessionRecord)
        .where(SessionRecord.session_id == bindparam("sid"))
        .values(expiry=bindparam("new_expiry", type_=SessionRecord.expiry.type))
    )


@functools.cache
def _replace_statement() -> Update:
    return (
        update(SessionRecord)
        .where(SessionRecord.session_id == bindparam("sid"), SessionRecord.data == bindparam("known"))
        .values(data=bindparam("merged", type_=SessionRecord.data.type), version=SessionRecord.version + 1)
    )


@functools.cache
def _existing_statement() -> Select[Any]:
    # The id list is an expanding parameter.
    return select(SessionRecord.session_id).where(
        SessionRecord.session_id.in_(bindparam("ids", expanding=True)), SessionRecord.expiry > bindparam("now")
    )


@functools.cache
def _load_statement() -> Select[Any]:
    return select(SessionRecord.data, SessionRecord.expiry).where(SessionRecord.session_id == bindparam("sid"))


def _is_lock_conflict(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    # SQLite, PostgreSQL (twice), MariaDB/MySQL ("Deadlock found when trying to get lock").
    conflicts = ("database is locked", "deadlock detected", "could not serialize", "deadlock found")
    return any(conflict in message for conflict in conflicts)
