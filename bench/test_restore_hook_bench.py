"""Micro-benchmark of the auto-restore hook's warm path (target: under 50 µs per request).

Not part of ``make test`` (pytest's testpaths is ``tests``); run with ``make bench``:

    .venv/bin/python -m pytest bench/test_restore_hook_bench.py --benchmark-only

A signed-in session that already holds its deal context is opened once, inside a
request context for ``GET /api/deals/current``; the hook
(``web.deal_context.request.restore_deal_context``) is then timed on it in two ways:

* as the first hook call of a request: Flask-Login has not loaded the user yet, so
  the timing includes rebuilding the user from the session's plain values;
* with the user already loaded (any later call in the same request).

Both must return without a query: the test fails if the hook touches the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask_migrate import upgrade
from sqlalchemy import event

from web import create_app
from web.deal_context.request import restore_deal_context
from web.demo import DEMO_PASSWORD, seed_demo_data
from web.extensions import db

WARM_PATH_BUDGET_SECONDS = 50e-6


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    path: Path = tmp_path_factory.mktemp("hook-bench") / "dealdesk.db"
    application = create_app(
        {
            "APP_ENV": "test",
            "TESTING": True,
            "SECRET_KEY": "bench-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SESSION_BACKEND": "sqlalchemy",
        }
    )
    with application.app_context():
        upgrade()
        seed_demo_data(db.session)
        db.session.remove()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def warm_cookie(app: Flask) -> str:
    """A signed-in session id whose session holds a deal context (alice's last deal)."""
    client = app.test_client()
    csrf = client.get("/api/csrf").get_json()["csrf_token"]
    response = client.post(
        "/api/auth/login",
        json={"email": "alice@acme.test", "password": DEMO_PASSWORD},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200, response.get_json()
    csrf = client.get("/api/csrf").get_json()["csrf_token"]  # sign-in replaced it
    deal_id = client.get("/api/deals").get_json()["deals"][0]["id"]
    assert client.post(f"/api/deals/{deal_id}/select", headers={"X-CSRFToken": csrf}).status_code == 200
    cookie = client.get_cookie("dealdesk_session")
    assert cookie is not None
    return cookie.value


@pytest.fixture
def warm_request(app: Flask, warm_cookie: str) -> Iterator[list[str]]:
    """A request context on a warm session; yields the list the SQL statements run in it are put in."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with app.test_request_context("/api/deals/current", headers={"Cookie": f"dealdesk_session={warm_cookie}"}) as ctx:
        ctx.session  # noqa: B018 - opens the session now, outside the timing
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)


def _forget_loaded_user() -> tuple[tuple[()], dict[str, Any]]:
    g.pop("_login_user", None)
    return (), {}


def test_warm_hook_first_call_in_request(benchmark: Any, warm_request: list[str]) -> None:
    benchmark.pedantic(restore_deal_context, setup=_forget_loaded_user, rounds=20_000, iterations=1, warmup_rounds=100)
    assert warm_request == [], "the warm path must not query"
    assert benchmark.stats.stats.median < WARM_PATH_BUDGET_SECONDS


def test_warm_hook_user_already_loaded(benchmark: Any, warm_request: list[str]) -> None:
    restore_deal_context()
    benchmark(restore_deal_context)
    assert warm_request == [], "the warm path must not query"
    assert benchmark.stats.stats.median < WARM_PATH_BUDGET_SECONDS
