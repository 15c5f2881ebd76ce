"""Machinery for the concurrency tests: a real threaded server, a pool of HTTP workers that
fire together, and a minimal app on stock Flask-Session to compare against.

The server is Werkzeug's threaded WSGI server on 127.0.0.1 and an ephemeral port:
each request runs in its own server thread, as under gunicorn's threaded workers.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, Response, jsonify, session
from flask_session.redis import RedisSessionInterface
from flask_session.sqlalchemy import SqlAlchemySessionInterface
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from tests.support.live_server import serve_in_thread
from web.config import engine_options, normalize_database_url

REQUEST_TIMEOUT = 30.0
PLAIN_COOKIE = "plain_session"
PLAIN_TABLE = "plain_flask_sessions"


@contextmanager
def live_server(app: Flask) -> Iterator[tuple[str, int]]:
    """Serve ``app`` on a threaded server on loopback; yields (host, port); stops it by itself."""
    with serve_in_thread(app, quiet=True) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


@dataclass(frozen=True)
class Call:
    """One request of a round; ``headers`` add to (or override) the crowd's own."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Answer:
    call: Call
    status: int
    body: bytes


class Crowd:
    """N worker threads, each with its own keep-alive connection, sending one request each per round.

    A barrier releases the N requests of a round together (plus a sub-millisecond jitter,
    so the interleaving differs from round to round), all with the same session cookie.
    """

    def __init__(self, address: tuple[str, int], size: int, headers: dict[str, str]) -> None:
        self.address = address
        self.size = size
        self.headers = headers
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="crowd")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def __enter__(self) -> Crowd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(*self.address, timeout=REQUEST_TIMEOUT)
            self.local.conn = conn
        return conn

    def _send(self, call: Call, barrier: threading.Barrier) -> Answer:
        barrier.wait(timeout=REQUEST_TIMEOUT)
        threading.Event().wait(random.random() / 2000)
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(call.method, call.path, headers={**self.headers, **dict(call.headers)})
                response = conn.getresponse()
                body = response.read()
                if response.will_close:
                    conn.close()
                    self.local.conn = None
                return Answer(call, response.status, body)
            except (ConnectionError, http.client.HTTPException):
                # The server closed a kept-alive connection between rounds: reconnect once.
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def round(self, calls: Sequence[Call]) -> list[Answer]:
        """Send these calls at once (at most ``size``); returns the answers in the same order."""
        assert len(calls) <= self.size
        barrier = threading.Barrier(len(calls))
        futures = [self.pool.submit(self._send, call, barrier) for call in calls]
        return [future.result(timeout=REQUEST_TIMEOUT * 2) for future in futures]


# --- The comparison: the same workload on stock Flask-Session 0.8 -----------------------------------


PLAIN_STATEMENT_SECONDS = 10


def make_plain_app(*, database_url: str, backend: str, redis_url: str | None, key_prefix: str) -> Flask:
    """A minimal app whose sessions are stock Flask-Session (whole blob written back on every request).

    It has its own ``SQLAlchemy()`` object, so Flask-Session's session model goes on a
    separate metadata under its own table name and never meets DealDesk's ``sessions``.
    The routes do what DealDesk's do to the session: select a deal (version from the
    same ``UPDATE users ... RETURNING``), read the current deal, write another key.
    """
    database_url = normalize_database_url(database_url)
    app = Flask("plain_flask_session")
    app.config.update(
        SECRET_KEY="plain-secret",
        SESSION_COOKIE_NAME=PLAIN_COOKIE,
        SESSION_PERMANENT=True,
        SQLALCHEMY_DATABASE_URI=database_url,
        # DealDesk's connection settings with a generous statement bound: this app shows lost session updates,
        # and its selections queue on one row lock; under a loaded test run they outlasted the 1 s bound (500s).
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(
            database_url, {"DATABASE_STATEMENT_TIMEOUT_SECONDS": PLAIN_STATEMENT_SECONDS}
        ),
    )
    plain_db = SQLAlchemy()
    plain_db.init_app(app)
    if backend == "redis":
        assert redis_url is not None
        client = redis.Redis.from_url(redis_url)
        app.extensions["plain_redis"] = client
        app.session_interface = RedisSessionInterface(app, client=client, key_prefix=key_prefix)
    else:
        app.session_interface = SqlAlchemySessionInterface(
            app, client=plain_db, key_prefix=key_prefix, table=PLAIN_TABLE
        )
    app.extensions["plain_db"] = plain_db
    add_plain_routes(app, plain_db)
    return app


def add_plain_routes(app: Flask, plain_db: SQLAlchemy) -> None:
    @app.post("/login/<int:user_id>")
    def login(user_id: int) -> Response:
        session["user_id"] = user_id
        return Response(status=204)

    @app.post("/select/<int:deal_id>")
    def select(deal_id: int) -> Response:
        parameters = {"deal": deal_id, "user": session["user_id"]}
        update = (
            "UPDATE users SET last_deal_id = :deal, deal_context_version = deal_context_version + 1 WHERE id = :user"
        )
        if plain_db.session.connection().dialect.update_returning:
            version = plain_db.session.execute(
                text(update + " RETURNING deal_context_version"), parameters
            ).scalar_one()
        else:  # MariaDB: the row stays locked until the commit, so the read sees this UPDATE's value
            plain_db.session.execute(text(update), parameters)
            version = plain_db.session.execute(
                text("SELECT deal_context_version FROM users WHERE id = :user"), parameters
            ).scalar_one()
        plain_db.session.commit()
        session["deal_ctx"] = {"deal_id": deal_id, "version": version}
        return Response(status=204)

    @app.get("/current")
    def current() -> Response:
        context = session.get("deal_ctx") or {}
        name = plain_db.session.execute(
            text("SELECT name FROM deals WHERE id = :deal"), {"deal": context.get("deal_id")}
        ).scalar()
        return jsonify(current_deal=name)

    @app.post("/mark/<name>/<int:value>")
    def mark(name: str, value: int) -> Response:
        session[f"mark_{name}"] = value
        return Response(status=204)


def close_plain_app(app: Flask) -> None:
    with app.app_context():
        app.extensions["plain_db"].engine.dispose()
    client = app.extensions.get("plain_redis")
    if client is not None:
        client.close()


def plain_stored_session(app: Flask, sid: str) -> dict[str, Any] | None:
    interface: Any = app.session_interface
    with app.app_context():
        data = interface._retrieve_session_data(interface._get_store_id(sid))
        app.extensions["plain_db"].session.remove()
    return data


def drop_plain_table(app: Flask) -> None:
    if isinstance(app.session_interface, SqlAlchemySessionInterface):
        with app.app_context():
            app.session_interface.sql_session_model.__table__.drop(app.extensions["plain_db"].engine, checkfirst=True)
