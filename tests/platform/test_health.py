"""GET /api/health/session: the document, its verdicts, its cost, and what it must never do."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import redis
from flask import Flask
from sqlalchemy import insert

from tests.support.queries import listening_to_statements
from tests.support.stacks import SQLITE_REDIS, SQLITE_SQL
from tests.support.state import session_rows
from web.extensions import db
from web.jobs.models import JobRun
from web.platform.health import health_engine
from web.platform.models import utcnow

HEALTH = "/api/health/session"


def redis_session_keys(app: Flask) -> list[bytes]:
    client: redis.Redis = app.extensions["dealdesk_redis"]
    return list(client.scan_iter(match=f"{app.config['SESSION_KEY_PREFIX']}*", count=500))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthy_document_has_the_specified_shape(app, stack):
    response = app.test_client().get(HEALTH)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    document = response.get_json()
    assert document["status"] == "healthy"
    assert document["backend"] == stack.sessions
    assert document["version"] == app.config["APP_VERSION"]
    checks = document["checks"]
    assert set(checks) == {"session_store", "database", "scheduler"}
    for name in ("session_store", "database"):
        assert checks[name]["ok"] is True
        assert isinstance(checks[name]["latency_ms"], float | int)
    assert checks["scheduler"]["jobs"]["session_cleanup"] == {"last_status": None, "last_success_at": None}


def test_polling_creates_no_session_and_sets_no_cookie(app, stack):
    client = app.test_client()
    for _ in range(5):
        response = client.get(HEALTH)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    assert client.get_cookie("dealdesk_session") is None
    if stack.sessions == "redis":
        assert redis_session_keys(app) == []
    assert session_rows(app) == 0


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_a_poll_with_a_session_cookie_leaves_the_session_alone(api, app, demo, count_queries):
    api.login("alice@acme.test")
    with count_queries() as log:
        response = api.get(HEALTH)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert log.store_statements == [] and log.app_statements == []


def test_nothing_secret_in_the_document(app):
    text = app.test_client().get(HEALTH).get_data(as_text=True)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    for secret in (url, url.split("@")[-1], "127.0.0.1", "localhost", app.config["SECRET_KEY"], "redis://", "6379"):
        assert secret not in text


def test_at_most_three_backend_round_trips(app, stack, count_queries, monkeypatch):
    redis_round_trips: list[int] = []
    original = redis.connection.Connection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        redis_round_trips.append(1)
        return original(self, command, check_health)

    with app.app_context():
        engine = health_engine(app)
        shares_app_engine = engine is db.engine
    health_statements: list[str] = []

    def record(conn, cursor, statement, *_args):  # type: ignore[no-untyped-def]
        health_statements.append(statement)

    client = app.test_client()
    client.get(HEALTH)  # the first poll opens the health engine's connection
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    with listening_to_statements([engine], record), count_queries() as app_log:
        assert client.get(HEALTH).status_code == 200
    total = len(redis_round_trips) + len(health_statements)
    if not shares_app_engine:
        total += len(app_log.app_statements) + len(app_log.store_statements)
    assert total <= 3, (health_statements, redis_round_trips)
    assert len(redis_round_trips) == (1 if stack.sessions == "redis" else 0)


@pytest.mark.parametrize("stack", [SQLITE_SQL, SQLITE_REDIS], indirect=True)
def test_overdue_job_makes_it_degraded(app):
    with app.app_context():
        long_ago = utcnow() - timedelta(days=15)  # the weekly job's period is 7 days
        db.session.execute(
            insert(JobRun).values(
                job="stale_deal_cleanup", started_at=long_ago, finished_at=long_ago, status="success", rows_affected=0
            )
        )
        db.session.commit()
        db.session.remove()
    response = app.test_client().get(HEALTH)
    assert response.status_code == 200
    document = response.get_json()
    assert document["status"] == "degraded"
    job = document["checks"]["scheduler"]["jobs"]["stale_deal_cleanup"]
    assert job["last_status"] == "success"
    assert job["last_success_at"].startswith(long_ago.strftime("%Y-%m-%dT%H:%M"))


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_recent_job_success_keeps_it_healthy(app):
    with app.app_context():
        recent = utcnow() - timedelta(hours=1)
        db.session.execute(
            insert(JobRun).values(job="session_cleanup", started_at=recent, finished_at=recent, status="success")
        )
        db.session.commit()
        db.session.remove()
    document = app.test_client().get(HEALTH).get_json()
    assert document["status"] == "healthy"
    assert document["checks"]["scheduler"]["jobs"]["session_cleanup"]["last_status"] == "success"


@pytest.mark.parametrize("stack", [SQLITE_SQL, SQLITE_REDIS], indirect=True)
def test_slow_store_makes_it_degraded(stack_settings, app):
    impatient = stack_settings.make_app(HEALTH_SLOW_STORE_MS=0.0001)
    response = impatient.test_client().get(HEALTH)
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"


@pytest.mark.parametrize("stack", [SQLITE_SQL, SQLITE_REDIS], indirect=True)
def test_unreachable_database_is_unhealthy(stack_settings, stack):
    broken = stack_settings.make_app(SQLALCHEMY_DATABASE_URI=f"postgresql://dealdesk@127.0.0.1:{closed_port()}/none")
    response = broken.test_client().get(HEALTH)
    assert response.status_code == 503
    document = response.get_json()
    assert document["status"] == "unhealthy"
    assert document["checks"]["database"]["ok"] is False
    # The SQL session store lives in that database too; Redis does not.
    assert document["checks"]["session_store"]["ok"] is (stack.sessions == "redis")
    assert document["checks"]["scheduler"]["jobs"]["session_cleanup"] == {"last_status": None, "last_success_at": None}


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_health_cli_prints_the_document_and_exits_by_status(stack_settings, app):
    result = app.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 0, result.output
    assert '"status": "healthy"' in result.output

    broken = stack_settings.make_app(SQLALCHEMY_DATABASE_URI=f"postgresql://dealdesk@127.0.0.1:{closed_port()}/none")
    result = broken.test_cli_runner().invoke(args=["health"])
    assert result.exit_code == 1
    assert '"status": "unhealthy"' in result.output
