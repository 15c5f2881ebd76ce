"""Server-side sessions on Redis or the SQL database, chosen by ``SESSION_BACKEND``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, Response, session
from sqlalchemy import Engine

from web.platform.redis_client import redis_client_for
from web.platform.session_store.base import (
    DealDeskSession,
    ExpiryListener,
    MergeRule,
    MergingSessionInterface,
    SessionStoreError,
    session_store_unavailable_response,
)
from web.platform.session_store.redis_store import RedisMergingSessionInterface
from web.platform.session_store.sql_store import SqlMergingSessionInterface

__all__ = [
    "DealDeskSession",
    "MergeRule",
    "MergingSessionInterface",
    "ServerSessions",
    "SessionStoreError",
    "session_store_unavailable_response",
]


class ServerSessions:
    """The Flask extension: installs the merging session interface for the configured backend.

    The view-time store failures (the interface's ``store_errors()`` and ``SessionStoreError``)
    are answered by ``web.errors``, with the app's other error handlers.
    """

    def init_app(
        self, app: Flask, *, engine: Callable[[], Engine], expiry_listeners: Iterable[ExpiryListener] = ()
    ) -> None:
        """``engine`` gives the SQL backend its engine, looked up when first used (nothing connects
        while the app is built); each of ``expiry_listeners`` hears every expiry the store moves."""
        prefix = app.config["SESSION_KEY_PREFIX"]
        interval = float(app.config["SESSION_TOUCH_INTERVAL_SECONDS"])
        interface: MergingSessionInterface
        if app.config["SESSION_BACKEND"] == "redis":
            client = redis_client_for(app.config)
            app.extensions["dealdesk_redis"] = client
            interface = RedisMergingSessionInterface(app, client=client, key_prefix=prefix, touch_interval=interval)
        else:
            interface = SqlMergingSessionInterface(app, engine=engine, key_prefix=prefix, touch_interval=interval)
        interface.expiry_listeners.extend(expiry_listeners)
        app.session_interface = interface
        app.before_request(reject_when_store_unavailable)


def reject_when_store_unavailable() -> Response | None:
    """Answer 503 before any view runs when the session could not be loaded."""
    if getattr(session, "store_unavailable", False):
        return session_store_unavailable_response()
    return None
