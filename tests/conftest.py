"""Fixtures: real SQLite and PostgreSQL databases, real Redis, an API client that speaks CSRF.

Each test run (and each xdist worker) gets its own PostgreSQL database, its own
SQLite file and its own Redis key prefix, migrated once; every test starts from
empty tables. A server that cannot be reached skips the tests that need it, or
fails them when ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from web import create_app
from web.demo import DEMO_PASSWORD, seed_demo_data
from web.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"


def require_server(name: str, reason: str) -> None:
    message = f"{name} unreachable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: every backend must be exercised)")
    pytest.skip(message)


# --- Stacks: which database and which session store ------------------------------------


@dataclass(frozen=True)
class Stack:
    database: str  # "sqlite" | "postgresql"
    sessions: str  # "sqlalchemy" | "redis"

    @property
    def id(self) -> str:
        return f"{self.database}-{self.sessions}"


SQLITE_SQL = Stack("sqlite", "sqlalchemy")
SQLITE_REDIS = Stack("sqlite", "redis")
POSTGRES_SQL = Stack("postgresql", "sqlalchemy")
POSTGRES_REDIS = Stack("postgresql", "redis")
ALL_STACKS = [SQLITE_SQL, SQLITE_REDIS, POSTGRES_SQL, POSTGRES_REDIS]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the servers their stack needs, so ``-m 'not postgres'`` works."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        stack = callspec.params.get("stack") if callspec else None
        if isinstance(stack, Stack):
            if stack.database == "postgresql":
                item.add_marker(pytest.mark.postgres)
            if stack.sessions == "redis":
                item.add_marker(pytest.mark.redis)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    return val.id if isinstance(val, Stack) else None


@pytest.fixture(params=ALL_STACKS, ids=lambda s: s.id)
def stack(request: pytest.FixtureRequest) -> Stack:
    """Every stack by default; narrow with ``@pytest.mark.parametrize("stack", [...], indirect=True)``."""
    return request.param


# --- Servers and per-run databases -------------------------------------------------------


def migrate_database(url: str) -> None:
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "SESSION_BACKEND": "sqlalchemy"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'dealdesk.db'}"
    migrate_database(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = make_url(TEST_DATABASE_URL)
    connect_args = {
        "host": admin_url.host or "127.0.0.1",
        "port": admin_url.port or 5432,
        "user": admin_url.username,
        "password": admin_url.password,
        "connect_timeout": 3,
    }
    try:
        admin = psycopg2.connect(dbname=admin_url.database, **connect_args)
    except psycopg2.OperationalError as exc:
        require_server("PostgreSQL", str(exc).strip())
    admin.autocommit = True
    name = f"dealdesk_test_{RUN_ID}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate_database(url)
        yield url
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        require_server("Redis", str(exc))
    finally:
        client.close()
    return TEST_REDIS_URL


def delete_redis_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- The app ------------------------------------------------------------------------------


@dataclass
class StackSettings:
    """Everything needed to build more app instances on the same stores (a "second server")."""

    stack: Stack
    config: dict[str, Any]
    instances: list[Flask] = field(default_factory=list)

    def make_app(self, **overrides: Any) -> Flask:
        app = create_app({**self.config, **overrides})
        self.instances.append(app)
        return app


def truncate_all(app: Flask) -> None:
    with app.app_context():
        tables = [table.name for table in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                conn.execute(text("UPDATE users SET last_deal_id = NULL"))
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def stack_settings(request: pytest.FixtureRequest, stack: Stack) -> Iterator[StackSettings]:
    database_url = request.getfixturevalue("postgres_url" if stack.database == "postgresql" else "sqlite_url")
    prefix = f"dealdesk-test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    config: dict[str, Any] = {
        "APP_ENV": "test",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SESSION_BACKEND": stack.sessions,
        "SESSION_KEY_PREFIX": prefix,
    }
    if stack.sessions == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    settings = StackSettings(stack=stack, config=config)
    try:
        yield settings
    finally:
        for app in settings.instances:
            with app.app_context():
                db.engine.dispose()
            client = app.extensions.get("dealdesk_redis")
            if client is not None:
                client.close()
        if stack.sessions == "redis":
            delete_redis_keys(config["REDIS_URL"], prefix)


@pytest.fixture
def app(stack_settings: StackSettings) -> Flask:
    application = stack_settings.make_app()
    truncate_all(application)
    return application


@pytest.fixture
def demo(app: Flask) -> dict[str, int]:
    """The demo organizations, users and deals; returns ids by short name."""
    from sqlalchemy import select

    from web.deals.models import Deal
    from web.identity.models import Organization, User

    with app.app_context():
        seed_demo_data(db.session)
        ids = {u.email.split("@")[0]: u.id for u in db.session.scalars(select(User))}
        ids.update({o.name.split()[0].lower(): o.id for o in db.session.scalars(select(Organization))})
        for deal in db.session.scalars(select(Deal)):
            ids[deal.name.split()[0].lower()] = deal.id
        db.session.remove()
    return ids


# --- Clients -----------------------------------------------------------------------------


class ApiClient:
    """A browser for the JSON API: its own cookie jar, and the CSRF header on every change."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._csrf: str | None = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            response = self.client.get("/api/csrf")
            assert response.status_code == 200, response.data
            self._csrf = response.get_json()["csrf_token"]
        return self._csrf

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"X-CSRFToken": self.csrf, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("DELETE", path, **kwargs)

    def login(self, email: str, password: str = DEMO_PASSWORD) -> TestResponse:
        if "@" not in email:
            email = f"{email}@{'globex' if email == 'carol' else 'acme'}.test"
        self._csrf = None  # like a real client: a fresh token for the session it signs in with
        response = self.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        return response

    def current_deal_id(self) -> int | None:
        response = self.get("/api/deals/current")
        assert response.status_code == 200, response.get_json()
        deal = response.get_json()["current_deal"]
        return deal["id"] if deal else None

    def session_id(self) -> str | None:
        cookie = self.client.get_cookie("dealdesk_session")
        return cookie.value if cookie else None


@pytest.fixture
def browser(app: Flask) -> Callable[..., ApiClient]:
    """``browser()`` opens a new browser (a new cookie jar) on ``app`` or on another instance."""

    def open_browser(on: Flask | None = None) -> ApiClient:
        return ApiClient((on or app).test_client())

    return open_browser


@pytest.fixture
def api(browser: Callable[..., ApiClient]) -> ApiClient:
    return browser()


# --- Measuring -----------------------------------------------------------------------------


@dataclass
class QueryLog:
    app_statements: list[str] = field(default_factory=list)
    store_statements: list[str] = field(default_factory=list)


@pytest.fixture
def count_queries(app: Flask) -> Callable[[], Any]:
    """``with count_queries() as log:`` records SQL on the app's engine, split into app and session store."""

    @contextmanager
    def counting() -> Iterator[QueryLog]:
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

    return counting


# --- Security, contract and failover tests (issue 7) ---------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: schemathesis against a live server (make fuzz)")
    config.addinivalue_line("markers", "sentinel: Redis Sentinel failover with real redis-server processes")


# --- Operations: servers started by tests, health engines (issue 4) --------------------------


@pytest.fixture(autouse=True)
def _close_health_connections() -> Iterator[None]:
    """The health check and the SQL session store keep small pools of their own per app; close them after each test."""
    yield
    from web.platform.health import close_health_connections
    from web.platform.session_store.sql_store import close_store_connections

    close_health_connections()
    close_store_connections()


@dataclass
class RedisServer:
    """A redis-server of our own on a spare loopback port, stopped and restarted by pid."""

    port: int
    workdir: str
    process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        import subprocess
        import time

        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*argv, "--dir", self.workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGKILL: the store dies as in a crash (no persistence: its sessions are gone)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: the server still accepts connections but never answers (a hung or partitioned host)."""
        import signal

        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        import signal

        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def redis_server(tmp_path: Any) -> Iterator[RedisServer]:
    """A private redis-server, always stopped at the end (``SIGCONT`` first, in case a test froze it)."""
    import shutil
    import socket

    if shutil.which("redis-server") is None:
        require_server("redis-server", "the redis-server binary is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = RedisServer(port=port, workdir=str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.thaw()
        server.stop()
