"""Operator CLI: ``flask --app web sessions|deals|jobs|scheduler ...`` with exit codes scripts can use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from tests.support.databases import migrate_database
from tests.support.stacks import MARIADB_SQL, POSTGRES_SQL, SQLITE_REDIS, SQLITE_SQL
from web.extensions import db
from web.identity.models import User
from web.jobs.locks import make_lock
from web.jobs.models import JobRun
from web.jobs.registry import JOBS
from web.platform.models import utcnow
from web.platform.session_store.models import SessionRecord

REPO = Path(__file__).resolve().parents[2]
SQL_STACKS = [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL]


def invoke(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=list(args))


@pytest.mark.parametrize("stack", SQL_STACKS, indirect=True)
def test_sessions_cleanup_deletes_expired_rows_and_records_the_run(app):
    now = utcnow()
    with app.app_context():
        db.session.execute(
            insert(SessionRecord),
            [
                {"session_id": "gone", "data": b"x", "expiry": now - timedelta(hours=1), "version": 1},
                {"session_id": "alive", "data": b"x", "expiry": now + timedelta(hours=1), "version": 1},
            ],
        )
        db.session.commit()
        db.session.remove()

    result = invoke(app, "sessions", "cleanup")

    assert result.exit_code == 0, result.output
    assert "session_cleanup: done, 1 rows affected" in result.output
    with app.app_context():
        assert db.session.scalars(select(SessionRecord.session_id)).all() == ["alive"]
        assert db.session.scalars(select(JobRun.status).where(JobRun.job == "session_cleanup")).all() == ["success"]


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_cleanup_while_another_process_holds_the_lock_exits_75(app):
    with app.app_context():
        held = make_lock(app, "session_cleanup", 60)
        assert held.acquire()
    try:
        result = invoke(app, "sessions", "cleanup")
    finally:
        with app.app_context():
            held.release()
    assert result.exit_code == 75
    assert "another process holds the lock" in result.output


@pytest.mark.parametrize("stack", SQL_STACKS, indirect=True)
def test_deals_clear_stale_clears_a_deleted_deal_reference(app, demo):
    with app.app_context():
        db.session.execute(update(User).where(User.id == demo["bob"]).values(last_deal_id=demo["litware"]))
        db.session.commit()

        result = invoke(app, "deals", "clear-stale")

        assert result.exit_code == 0, result.output
        assert "stale_deal_cleanup: done, 1 rows affected" in result.output
        assert db.session.scalar(select(User.last_deal_id).where(User.id == demo["bob"])) is None


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_jobs_status_exits_1_when_the_last_run_failed(app):
    ok = invoke(app, "jobs", "status")
    assert ok.exit_code == 0, ok.output
    assert "session_cleanup" in ok.output and "never" in ok.output

    with app.app_context():
        now = utcnow()
        db.session.execute(
            insert(JobRun).values(
                job="session_cleanup", started_at=now, finished_at=now, status="failed", error="OperationalError: boom"
            )
        )
        db.session.commit()
        db.session.remove()
    failed = invoke(app, "jobs", "status")
    assert failed.exit_code == 1
    assert "error: OperationalError: boom" in failed.output


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_jobs_status_json_flags_an_overdue_job(app):
    with app.app_context():
        long_ago = utcnow() - timedelta(days=3)  # the daily job: overdue after two days
        db.session.execute(
            insert(JobRun).values(job="session_cleanup", started_at=long_ago, finished_at=long_ago, status="success")
        )
        db.session.commit()
        db.session.remove()
    result = invoke(app, "jobs", "status", "--json")
    assert result.exit_code == 1
    assert '"overdue": true' in result.output


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_unknown_job_or_user_is_a_usage_error(app, demo):
    assert invoke(app, "jobs", "run", "no_such_job").exit_code == 2
    assert invoke(app, "sessions", "list", "--user", "nobody@acme.test").exit_code == 2
    assert invoke(app, "sessions", "revoke", "--user", "nobody@acme.test").exit_code == 2


@pytest.mark.parametrize("stack", [SQLITE_SQL, SQLITE_REDIS], indirect=True)
def test_sessions_list_and_revoke_by_email(app, demo, browser):
    laptop, phone = browser(), browser()
    laptop.login("alice@acme.test")
    phone.login("alice@acme.test")

    listed = invoke(app, "sessions", "list", "--user", "ALICE@acme.test")
    assert listed.exit_code == 0, listed.output
    assert "2 live session(s) for alice@acme.test" in listed.output

    as_json = invoke(app, "sessions", "list", "--user", "alice@acme.test", "--json")
    public_ids = [line.split('"')[3] for line in as_json.output.splitlines() if '"public_id"' in line]
    assert len(public_ids) == 2

    one = invoke(app, "sessions", "revoke", "--user", "alice@acme.test", "--session", public_ids[0])
    assert one.exit_code == 0, one.output
    assert invoke(app, "sessions", "revoke", "--user", "alice@acme.test", "--session", "nope").exit_code == 2

    everything = invoke(app, "sessions", "revoke", "--user", "alice@acme.test")
    assert everything.exit_code == 0, everything.output
    assert "revoked 1 session(s) of alice@acme.test" in everything.output
    assert laptop.get("/api/me").status_code == 401
    assert phone.get("/api/me").status_code == 401


def test_scheduler_run_starts_and_stops_on_sigterm(tmp_path):
    """The standalone scheduler process: runs until SIGTERM, then exits 0."""
    database_url = f"sqlite:///{tmp_path / 'scheduler.db'}"
    migrate_database(database_url)
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SESSION_BACKEND": "sqlalchemy",
        "LOG_FORMAT": "text",
    }
    flask = str(Path(sys.executable).parent / "flask")
    process = subprocess.Popen(
        [flask, "--app", "web", "scheduler", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "scheduler running with jobs" in line:
                break
        started = [line for line in lines if "scheduler running with jobs" in line]
        assert started and all(spec.id in started[0] for spec in JOBS), lines
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "scheduler stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
