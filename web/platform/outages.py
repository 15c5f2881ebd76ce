"""A database that is down or unreachable is a 503 with ``Retry-After``, not a 500.

The session store has its own path (``web.platform.session_store``: 503 ``session_store_unavailable``).
This covers the application database when it is not the session store's: a view's
query fails because PostgreSQL is restarting, the pool cannot connect, or a
connection was cut. Bugs (integrity errors, bad SQL) stay 500s. Logged once per
incident; the health check's database probe logs the recovery.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, make_response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.wrappers import Response

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
    """The database could not be reached or dropped the connection (not a bug in a statement)."""
    if isinstance(exc, PoolTimeoutError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def database_unavailable(exc: Exception) -> Response:
    from web.errors import error_response, handle_unexpected_error
    from web.extensions import db

    if not is_outage(exc):
        return make_response(handle_unexpected_error(exc))
    database_incident.failed(exc)
    try:
        db.session.rollback()
    except DBAPIError:
        db.session.invalidate()  # the connection is gone; do not return it to the pool
    response = make_response(
        error_response(503, "database_unavailable", "The database is unavailable; try again shortly.")
    )
    response.headers["Retry-After"] = "5"
    return response


def register_outage_handlers(app: Flask) -> None:
    """Database outages in views become 503s. The SQL session backend's own handler for
    ``OperationalError`` (registered earlier, same class) keeps answering ``session_store_unavailable``."""
    app.register_error_handler(DBAPIError, database_unavailable)
    app.register_error_handler(PoolTimeoutError, database_unavailable)
