"""Server-side sessions on Redis or the SQL database, chosen by ``SESSION_BACKEND``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import redis
from flask import Flask, Response
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from web.sessions.base import (
    DEAL_CONTEXT_KEY,
    DealDeskSession,
    MergingSessionInterface,
    SessionStoreError,
    report_store_failure,
    session_store_unavailable_response,
)

__all__ = [
    "DEAL_CONTEXT_KEY",
    "DealDeskSession",
    "MergingSessionInterface",
    "ServerSessions",
    "SessionStoreError",
    "make_redis_client",
    "session_store_unavailable_response",
]


def make_redis_client(url: str, timeout: float) -> redis.Redis:
    """A client that fails fast: redis-py's defaults retry for many seconds before a request fails."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
        health_check_interval=30,
    )


class ServerSessions:
    """The Flask extension: installs the merging session interface for the configured backend."""

    def init_app(self, app: Flask) -> None:
        prefix = app.config["SESSION_KEY_PREFIX"]
        interval = float(app.config["SESSION_TOUCH_INTERVAL_SECONDS"])
        interface: MergingSessionInterface
        if app.config["SESSION_BACKEND"] == "redis":
            from web.sessions.redis_store import RedisMergingSessionInterface

            client = make_redis_client(app.config["REDIS_URL"], float(app.config["REDIS_SOCKET_TIMEOUT"]))
            app.extensions["dealdesk_redis"] = client
            interface = RedisMergingSessionInterface(app, client=client, key_prefix=prefix, touch_interval=interval)
        else:
            from web.extensions import db
            from web.sessions.sql_store import SqlMergingSessionInterface

            interface = SqlMergingSessionInterface(
                app, engine=lambda: db.engine, key_prefix=prefix, touch_interval=interval
            )
        interface.expiry_listeners.append(index_activity_listener())
        app.session_interface = interface
        app.before_request(reject_when_store_unavailable)
        # Views reach the store too (sign-in's regenerate and first write, sign-out, revocations):
        # a store that dies mid-request must give the same 503 there, not a 500.
        for error in (*interface.store_errors(), SessionStoreError):
            app.register_error_handler(error, store_failure_in_view)


def index_activity_listener() -> Callable[[str, datetime], None]:
    """Keep the session index's "last seen" and expiry in step with the store's expiry."""
    from web.extensions import db
    from web.services.sessions import record_activity

    def listener(sid_hash: str, expires_at: datetime) -> None:
        record_activity(db.engine, sid_hash, expires_at)

    return listener


def store_failure_in_view(exc: Exception) -> Response:
    """A store call made inside a view failed: answered like a failed load or save."""
    from web.extensions import db

    report_store_failure("view", exc)
    db.session.rollback()
    return session_store_unavailable_response()


def reject_when_store_unavailable():  # type: ignore[no-untyped-def]
    """Answer 503 before any view runs when the session could not be loaded."""
    from flask import session

    if getattr(session, "store_unavailable", False):
        return session_store_unavailable_response()
    return None
