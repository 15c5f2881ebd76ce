"""Server-side sessions on Redis or the SQL database, chosen by ``SESSION_BACKEND``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import redis
from flask import Flask, Response
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from web.config import redis_url_options
from web.platform.session_store.base import (
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
    "redis_client_for",
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


def fail_fast_options(timeout: float) -> dict[str, Any]:
    """Connection options for every Redis and Sentinel connection: short timeouts, one quick retry."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
    }


def redis_client_for(config: Mapping[str, Any]) -> redis.Redis:
    """The app's Redis client: the primary found through Sentinel when ``REDIS_SENTINELS`` is set, else ``REDIS_URL``.

    Sessions, sign-in throttling and job locks all use this, with the same short timeouts.
    In Sentinel mode every new connection asks the sentinels for the current primary, so
    after a failover the client follows the promoted replica by itself.
    """
    timeout = float(config["REDIS_SOCKET_TIMEOUT"])
    sentinels = config.get("REDIS_SENTINELS") or []
    if not sentinels:
        return make_redis_client(config["REDIS_URL"], timeout)
    addresses = [(host, int(port)) for host, _, port in (address.rpartition(":") for address in sentinels)]
    sentinel = Sentinel(addresses, sentinel_kwargs=fail_fast_options(timeout), **fail_fast_options(timeout))
    return sentinel.master_for(
        config["REDIS_SENTINEL_SERVICE"], health_check_interval=30, **redis_url_options(config["REDIS_URL"])
    )


class ServerSessions:
    """The Flask extension: installs the merging session interface for the configured backend."""

    def init_app(self, app: Flask) -> None:
        prefix = app.config["SESSION_KEY_PREFIX"]
        interval = float(app.config["SESSION_TOUCH_INTERVAL_SECONDS"])
        interface: MergingSessionInterface
        if app.config["SESSION_BACKEND"] == "redis":
            from web.platform.session_store.redis_store import RedisMergingSessionInterface

            client = redis_client_for(app.config)
            app.extensions["dealdesk_redis"] = client
            interface = RedisMergingSessionInterface(app, client=client, key_prefix=prefix, touch_interval=interval)
        else:
            from web.extensions import db
            from web.platform.session_store.sql_store import SqlMergingSessionInterface

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
    from web.identity.session_index import record_activity

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
