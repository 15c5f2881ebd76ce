"""A database that is down or unreachable is a 503 with ``Retry-After``, not a 500.

The session store has its own path (``web.platform.session_store``: 503 ``session_store_unavailable``).
This covers the application database when it is not the session store's: a view's
query fails because PostgreSQL is restarting, the pool cannot connect, a connection
was cut, the server cancelled a statement at ``statement_timeout``, or the database
stopped answering and the client gave up waiting (``web.platform.db``: a frozen or
partitioned server costs at most the configured bounds, not a hang). Bugs (integrity
errors, bad SQL) stay 500s. Logged once per
incident; the health check's database probe logs the recovery. Here: what counts
as an outage and how one is logged and cleaned up; the 503 itself is answered by
``web.errors.handle_database_error``.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger(__name__)


class Incident:
    """Log a failing dependency once when it starts failing and once when it is back, not on every request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.error("%s unavailable: %s: %s", self.name, type(exc).__name__, exc)

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("%s available again after %.1f s", self.name, time.monotonic() - self.since)
            self.since = None


database_incident = Incident("database")


def is_outage(exc: BaseException) -> bool:
    """The database could not be reached, did not answer in time, or dropped the connection (not a bug).

    ``OperationalError`` is what SQLAlchemy makes of psycopg2's: a refused or timed-out
    connection, a server shutting down, ``QueryCanceled`` (``statement_timeout``) and
    ``LockNotAvailable``, and ``web.platform.db.DatabaseNotAnswering`` (a wait that ran
    past its bound; psycopg2 has closed that connection and SQLAlchemy drops it and the
    rest of its pool, so the next request connects afresh). A pool with no free
    connection in time is ``TimeoutError``.
    """
    if isinstance(exc, PoolTimeoutError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def discard_failed_transaction(db_session: scoped_session[Session]) -> None:
    """Roll back the request's transaction after an outage; a connection that is gone is dropped, not pooled."""
    try:
        db_session.rollback()
    except DBAPIError:
        db_session.invalidate()  # the connection is gone; do not return it to the pool
