"""Fixtures: real SQLite and PostgreSQL databases, real Redis, an API client that speaks CSRF.

Each test run (and each xdist worker) gets its own PostgreSQL database, its own
SQLite file and its own Redis key prefix, migrated once; every test starts from
empty tables. A server that cannot be reached skips the tests that need it, or
fails them when ``CI=true``. What the fixtures are made of lives in ``tests/support/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from flask import Flask

from tests.support.clients import ApiClient
from tests.support.databases import (
    check_redis,
    delete_redis_keys,
    migrate_database,
    scratch_mariadb_database,
    scratch_postgres_database,
    truncate_all,
)
from tests.support.factories import Factories
from tests.support.queries import QueryLog, counting_queries
from tests.support.servers import RedisServer, private_redis_server
from tests.support.stacks import ALL_STACKS, TEST_REDIS_URL, Stack, StackSettings, stack_config
from tests.support.world import build_world
from web.extensions import db, limiter

# --- Hooks: markers and ids by stack -----------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: schemathesis against a live server (make fuzz)")
    config.addinivalue_line("markers", "sentinel: Redis Sentinel failover with real redis-server processes")
    config.addinivalue_line("markers", "mariadb: needs the MariaDB server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the servers their stack needs, so ``-m 'not postgres'`` works."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        stack = callspec.params.get("stack") if callspec else None
        if isinstance(stack, Stack):
            if stack.database == "postgresql":
                item.add_marker(pytest.mark.postgres)
            if stack.database == "mariadb":
                item.add_marker(pytest.mark.mariadb)
            if stack.sessions == "redis":
                item.add_marker(pytest.mark.redis)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    return val.id if isinstance(val, Stack) else None


# --- Stacks, servers and per-run databases -----------------------------------------------


@pytest.fixture(params=ALL_STACKS, ids=lambda s: s.id)
def stack(request: pytest.FixtureRequest) -> Stack:
    """Every stack by default; narrow with ``@pytest.mark.parametrize("stack", [...], indirect=True)``."""
    return request.param


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'dealdesk.db'}"
    migrate_database(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database() as url:
        migrate_database(url)
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    with scratch_mariadb_database() as url:
        migrate_database(url)
        yield url


# The session fixture that provides each stack's database.
DATABASE_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}


@pytest.fixture(scope="session")
def redis_url() -> str:
    check_redis(TEST_REDIS_URL)
    return TEST_REDIS_URL


@pytest.fixture
def redis_server(tmp_path: Any) -> Iterator[RedisServer]:
    """A private redis-server the test may kill, freeze and restart; always stopped at the end."""
    with private_redis_server(str(tmp_path)) as server:
        yield server


# --- The app -----------------------------------------------------------------------------


@pytest.fixture
def stack_settings(request: pytest.FixtureRequest, stack: Stack) -> Iterator[StackSettings]:
    database_url = request.getfixturevalue(DATABASE_FIXTURES[stack.database])
    redis_url = request.getfixturevalue("redis_url") if stack.sessions == "redis" else None
    settings = StackSettings(stack=stack, config=stack_config(stack, database_url=database_url, redis_url=redis_url))
    try:
        yield settings
    finally:
        for app in settings.instances:
            with app.app_context():
                db.engine.dispose()
            client = app.extensions.get("dealdesk_redis")
            if client is not None:
                client.close()
        if redis_url is not None:
            delete_redis_keys(redis_url, settings.config["SESSION_KEY_PREFIX"])


@pytest.fixture
def app(stack_settings: StackSettings) -> Flask:
    application = stack_settings.make_app()
    truncate_all(application)
    return application


@pytest.fixture(autouse=True)
def _close_health_connections() -> Iterator[None]:
    """The health check and the SQL session store keep small pools of their own per app; close them after each test."""
    yield
    from web.platform.health import close_health_connections
    from web.platform.session_store.sql_store import close_store_connections

    close_health_connections()
    close_store_connections()


@pytest.fixture(autouse=True)
def _fresh_throttle_storage_options() -> Iterator[None]:
    """Flask-Limiter's one ``Limiter`` merges every app's ``RATELIMIT_STORAGE_OPTIONS`` into its own and
    keeps them (a deployment builds one app per process). Across tests they would pile up: after the
    Sentinel test, a later Redis app's counters got its ``sentinel_kwargs`` and stopped counting."""
    yield
    limiter._storage_options.clear()


# --- Data ----------------------------------------------------------------------------------


@pytest.fixture
def make(app: Flask) -> Factories:
    """The factories, on the test's app: ``make.user(...)``, ``make.deal(owner)``, ..."""
    return Factories(app)


@pytest.fixture
def demo(make: Factories) -> dict[str, int]:
    """The shared cast (tests/support/world.py): Acme's alice, bob and dave, Globex's carol, their deals.

    Made with the factories, not with the product's demo seed (which has a test of its own);
    returns ids by short name.
    """
    return build_world(make)


# --- Clients and measuring -------------------------------------------------------------------


@pytest.fixture
def browser(app: Flask) -> Callable[..., ApiClient]:
    """``browser()`` opens a new browser (a new cookie jar) on ``app`` or on another instance."""

    def open_browser(on: Flask | None = None) -> ApiClient:
        return ApiClient((on or app).test_client())

    return open_browser


@pytest.fixture
def api(browser: Callable[..., ApiClient]) -> ApiClient:
    return browser()


@pytest.fixture
def count_queries(app: Flask) -> Callable[[], AbstractContextManager[QueryLog]]:
    """``with count_queries() as log:`` records SQL on the app's engines, split into app and session store."""
    return lambda: counting_queries(app)
