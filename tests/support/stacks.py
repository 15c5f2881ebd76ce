"""The stacks a test runs on (a database and a session store), and the rule for an unreachable server.

A server that cannot be reached skips the tests that need it, or fails them when
``CI=true``: in CI every backend must be exercised.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask

from web import create_app

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
TEST_MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
# One per test process (each xdist worker): names its PostgreSQL database and its Redis key prefixes.
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"


def require_server(name: str, reason: str) -> None:
    """Skip the test for want of a server — or fail it in CI, where every backend must run."""
    message = f"{name} unreachable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: every backend must be exercised)")
    pytest.skip(message)


@dataclass(frozen=True)
class Stack:
    database: str  # "sqlite" | "postgresql" | "mariadb"
    sessions: str  # "sqlalchemy" | "redis"

    @property
    def id(self) -> str:
        return f"{self.database}-{self.sessions}"


SQLITE_SQL = Stack("sqlite", "sqlalchemy")
SQLITE_REDIS = Stack("sqlite", "redis")
POSTGRES_SQL = Stack("postgresql", "sqlalchemy")
POSTGRES_REDIS = Stack("postgresql", "redis")
MARIADB_SQL = Stack("mariadb", "sqlalchemy")
MARIADB_REDIS = Stack("mariadb", "redis")
ALL_STACKS = [SQLITE_SQL, SQLITE_REDIS, POSTGRES_SQL, POSTGRES_REDIS, MARIADB_SQL, MARIADB_REDIS]

# Page tests exercise forms and templates, not the stores (the API tests cover every stack):
# SQLite by default, the server databases too where SQL differs (the name search, statement counts).
ONE_STACK = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)
# Named when there were two; every database, each with the SQL session store.
BOTH_DATABASES = pytest.mark.parametrize(
    "stack", [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL], indirect=True, ids=lambda s: s.id
)
EVERY_DATABASE = BOTH_DATABASES


def stack_config(stack: Stack, *, database_url: str, redis_url: str | None) -> dict[str, Any]:
    """The app config for a stack, with a Redis key prefix of its own (removed after the test)."""
    config: dict[str, Any] = {
        "APP_ENV": "test",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SESSION_BACKEND": stack.sessions,
        "SESSION_KEY_PREFIX": f"dealdesk-test:{RUN_ID}:{uuid.uuid4().hex[:8]}:",
    }
    if stack.sessions == "redis":
        config["REDIS_URL"] = redis_url
    return config


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
