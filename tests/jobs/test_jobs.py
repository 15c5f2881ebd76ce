"""Scheduled jobs: once per tick across schedulers, failures recorded, exact cleanups."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import delete, insert, select, update

from tests.support.stacks import (
    MARIADB_REDIS,
    MARIADB_SQL,
    POSTGRES_REDIS,
    POSTGRES_SQL,
    SQLITE_REDIS,
    SQLITE_SQL,
    StackSettings,
)
from web.config import build_config
from web.deals.models import Deal, DealMember, MemberRole
from web.extensions import db
from web.identity.models import Role, User, UserSession
from web.jobs.cleanup import cleanup_expired_sessions, clear_stale_deals
from web.jobs.locks import make_lock
from web.jobs.models import JobLock, JobRun
from web.jobs.registry import JOBS, JobSpec, get_job
from web.jobs.runner import run_job
from web.jobs.scheduler import build_scheduler, latest_fire_time, parse_crontab, start_embedded_scheduler
from web.platform.models import utcnow
from web.platform.session_store.models import SessionRecord

SQL_STACKS = [SQLITE_SQL, POSTGRES_SQL, MARIADB_SQL]
LOCK_CASES = [
    pytest.param(SQLITE_SQL, "database", id="sqlite-lock-row"),
    pytest.param(POSTGRES_SQL, "postgresql", id="postgresql-advisory-lock"),
    pytest.param(SQLITE_REDIS, "redis", id="sqlite-redis-lock"),
    pytest.param(POSTGRES_REDIS, "redis", id="postgresql-redis-lock"),
    pytest.param(MARIADB_SQL, "mysql", id="mariadb-named-lock"),
    pytest.param(MARIADB_REDIS, "redis", id="mariadb-redis-lock"),
]
WAIT_SECONDS = 20  # an upper bound on waiting for scheduler threads, not a speed assertion


def job_runs(app: Flask, job: str) -> list[JobRun]:
    with app.app_context():
        rows = list(db.session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id)))
        db.session.expunge_all()
        db.session.remove()
        return rows


def lock_settings(settings: StackSettings, backend: str) -> dict[str, str]:
    # Under the test's own key prefix, which the fixtures delete afterwards.
    return {"JOB_LOCK_BACKEND": backend, "JOB_LOCK_KEY_PREFIX": f"{settings.config['SESSION_KEY_PREFIX']}joblock:"}


class ExecutionCounter:
    """Counts executions (run, failed or missed) reported by APScheduler across schedulers."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self, _event: object) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_for(self, expected: int) -> int:
        with self.changed:
            self.changed.wait_for(lambda: self.count >= expected, timeout=WAIT_SECONDS)
            return self.count


def run_schedulers(apps: list[Flask], spec: JobSpec, trigger: IntervalTrigger, executions: int) -> int:
    counter = ExecutionCounter()
    schedulers = [build_scheduler(app, jobs=(spec,), triggers={spec.id: trigger}) for app in apps]
    for scheduler in schedulers:
        scheduler.add_listener(counter, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        scheduler.start()
    try:
        return counter.wait_for(executions)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=True)


# --- Once per tick ---------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "lock_backend"), LOCK_CASES, indirect=["stack"])
def test_four_schedulers_run_each_tick_once(app, stack_settings, lock_backend):
    overrides = lock_settings(stack_settings, lock_backend)
    apps = [stack_settings.make_app(**overrides) for _ in range(4)]
    calls: list[float] = []

    def slow_probe() -> int:
        calls.append(time.monotonic())
        time.sleep(0.2)  # long enough that the other schedulers find the lock held
        return 1

    spec = JobSpec("tick_probe", slow_probe, "TICK_PROBE_CRON", "test probe")
    start = datetime.now(UTC) + timedelta(seconds=1)
    trigger = IntervalTrigger(seconds=2, start_date=start, end_date=start + timedelta(seconds=2.5))

    assert run_schedulers(apps, spec, trigger, executions=8) == 8

    runs = job_runs(app, "tick_probe")
    assert [run.status for run in runs] == ["success", "success"]
    assert len(calls) == 2
    with app.app_context():
        claims = db.session.scalars(select(JobLock.name).where(JobLock.name.like("tick_probe@%"))).all()
    assert len(claims) == 2


@pytest.mark.parametrize("stack", SQL_STACKS, indirect=True)
def test_failing_job_is_recorded_and_the_next_tick_still_runs(app):
    attempts: list[int] = []

    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("disk on fire")
        return 7

    spec = JobSpec("flaky_probe", flaky, "FLAKY_CRON", "test probe")
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    trigger = IntervalTrigger(seconds=1, start_date=start, end_date=start + timedelta(seconds=1.5))

    assert run_schedulers([app], spec, trigger, executions=2) == 2

    failed, succeeded = job_runs(app, "flaky_probe")
    assert (failed.status, failed.error, failed.finished_at is not None) == (
        "failed",
        "RuntimeError: disk on fire",
        True,
    )
    assert (succeeded.status, succeeded.rows_affected, succeeded.error) == ("success", 7, None)


@pytest.mark.parametrize(("stack", "lock_backend"), LOCK_CASES, indirect=["stack"])
def test_a_held_lock_makes_the_run_skip(app, stack_settings, lock_backend):
    other = stack_settings.make_app(**lock_settings(stack_settings, lock_backend))
    spec = JobSpec("lock_probe", lambda: 1, "LOCK_PROBE_CRON", "test probe")
    with other.app_context():
        held = make_lock(other, "lock_probe", 60)
        assert held.acquire()
        try:
            assert make_lock(other, "lock_probe", 60).acquire() is False
            assert run_job(other, spec).status == "skipped"
        finally:
            held.release()
    assert run_job(other, spec).status == "success"
    assert [run.status for run in job_runs(app, "lock_probe")] == ["success"]


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_run_history_keeps_the_newest_runs(stack_settings, app):
    trimmed = stack_settings.make_app(JOB_RUNS_KEPT=3)
    spec = JobSpec("history_probe", lambda: 0, "HISTORY_CRON", "test probe")
    for _ in range(5):
        assert run_job(trimmed, spec).status == "success"
    runs = job_runs(app, "history_probe")
    assert len(runs) == 3
    assert [run.id for run in runs] == sorted(run.id for run in runs)[-3:]


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_embedded_scheduler_starts_only_when_enabled_and_once(stack_settings, app):
    assert start_embedded_scheduler(app) is None
    enabled = stack_settings.make_app(SCHEDULER_ENABLED=True)
    scheduler = start_embedded_scheduler(enabled)
    try:
        assert scheduler is not None and scheduler.running
        assert start_embedded_scheduler(enabled) is scheduler
        assert {job.id for job in scheduler.get_jobs()} == {spec.id for spec in JOBS}
    finally:
        scheduler.shutdown(wait=True)


# --- Schedules ----------------------------------------------------------------------------------


def test_crontab_day_numbers_mean_what_crontab_says():
    # APScheduler 3 alone would read day 0 as Monday.
    monday = datetime(2025, 1, 6, tzinfo=UTC)
    assert parse_crontab("0 2 * * 0").get_next_fire_time(None, monday).strftime("%a %H:%M") == "Sun 02:00"
    assert parse_crontab("0 2 * * 7").get_next_fire_time(None, monday).strftime("%a") == "Sun"
    assert parse_crontab("30 4 * * 1-5").get_next_fire_time(None, monday).strftime("%a %H:%M") == "Mon 04:30"
    assert parse_crontab("0 2 * * sun").get_next_fire_time(None, monday).strftime("%a") == "Sun"


def test_latest_fire_time_is_the_tick_a_late_run_belongs_to():
    trigger = parse_crontab("0 3 * * *")
    late = datetime(2025, 1, 6, 3, 0, 42, tzinfo=UTC)
    assert latest_fire_time(trigger, late, timedelta(minutes=5)) == datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
    assert latest_fire_time(trigger, late + timedelta(hours=1), timedelta(minutes=5)) is None


def test_every_registered_job_has_a_valid_default_schedule():
    defaults = build_config(env={})
    for spec in JOBS:
        parse_crontab(defaults[spec.cron_setting])
        assert get_job(spec.id) is spec


# --- Expired-session cleanup -------------------------------------------------------------------


def add_session_rows(app: Flask, expiries: dict[str, datetime]) -> None:
    with app.app_context():
        db.session.execute(
            insert(SessionRecord),
            [{"session_id": sid, "data": b"\x80", "expiry": expiry, "version": 1} for sid, expiry in expiries.items()],
        )
        db.session.commit()
        db.session.remove()


def add_index_rows(app: Flask, user_id: int, expiries: dict[str, datetime]) -> None:
    now = utcnow()
    with app.app_context():
        db.session.execute(
            insert(UserSession),
            [
                {
                    "public_id": name,
                    "user_id": user_id,
                    "sid_hash": name.ljust(64, "0"),
                    "created_at": now,
                    "last_seen_at": now,
                    "expires_at": expiry,
                }
                for name, expiry in expiries.items()
            ],
        )
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("stack", SQL_STACKS, indirect=True)
def test_session_cleanup_deletes_exactly_the_expired_rows(app, demo):
    now = utcnow()
    expired = {f"expired-{i}": now - timedelta(minutes=i + 1) for i in range(7)}
    expired["expiring-now"] = now
    live = {f"live-{i}": now + timedelta(minutes=i + 1) for i in range(3)}
    add_session_rows(app, {**expired, **live})
    add_index_rows(app, demo["bob"], {"old-a": now - timedelta(days=1), "old-b": now - timedelta(seconds=1)})
    add_index_rows(app, demo["bob"], {"new-a": now + timedelta(hours=1), "new-b": now + timedelta(days=1)})
    progress: list[int] = []

    with app.app_context():
        deleted = cleanup_expired_sessions(now=now, batch_size=3, progress=progress.append)
        remaining_sessions = set(db.session.scalars(select(SessionRecord.session_id)))
        remaining_index = set(db.session.scalars(select(UserSession.public_id)))

    assert deleted == len(expired) + 2
    assert remaining_sessions == set(live)
    assert remaining_index == {"new-a", "new-b"}
    # Batches of three: 3, 6, 8 sessions, then the two index rows.
    assert progress == [3, 6, 8, 10]


# --- Stale-deal cleanup -------------------------------------------------------------------------


def add_user(app: Flask, organization_id: int, email: str, role: Role) -> int:
    with app.app_context():
        user = User(organization_id=organization_id, email=email, password_hash="unused", role=role)
        db.session.add(user)
        db.session.commit()
        user_id = user.id
        db.session.remove()
        return user_id


@pytest.mark.parametrize("stack", SQL_STACKS, indirect=True)
def test_stale_deal_cleanup_clears_exactly_the_stale_references(app, demo):
    erin = add_user(app, demo["acme"], "erin@acme.test", Role.MEMBER)
    frank = add_user(app, demo["acme"], "frank@acme.test", Role.ADMIN)
    gina = add_user(app, demo["acme"], "gina@acme.test", Role.ADMIN)
    selections = {
        demo["alice"]: demo["northwind"],  # admin, live deal of her organization: kept
        demo["bob"]: demo["tailspin"],  # owner: kept
        erin: demo["woodgrove"],  # member (added below): kept
        demo["dave"]: demo["woodgrove"],  # membership removed below: cleared
        demo["carol"]: demo["northwind"],  # another organization's deal: cleared
        frank: demo["litware"],  # deleted deal: cleared
        gina: demo["contoso"],  # deactivated below: cleared
    }
    with app.app_context():
        db.session.add(DealMember(deal_id=demo["woodgrove"], user_id=erin, role=MemberRole.VIEWER))
        for user_id, deal_id in selections.items():
            db.session.execute(update(User).where(User.id == user_id).values(last_deal_id=deal_id))
        db.session.execute(
            delete(DealMember).where(DealMember.deal_id == demo["woodgrove"], DealMember.user_id == demo["dave"])
        )
        db.session.execute(update(User).where(User.id == gina).values(is_active=False))
        db.session.commit()
        versions_before = {
            row.id: row.deal_context_version for row in db.session.execute(select(User.id, User.deal_context_version))
        }
        assert db.session.scalar(select(Deal.deleted_at).where(Deal.id == demo["litware"])) is not None
        db.session.remove()

        cleared = clear_stale_deals(batch_size=2)  # several chunks of users

        after = {
            row.id: row for row in db.session.execute(select(User.id, User.last_deal_id, User.deal_context_version))
        }
    stale = {demo["dave"], demo["carol"], frank, gina}
    assert cleared == 4
    for user_id, deal_id in selections.items():
        expected = None if user_id in stale else deal_id
        assert after[user_id].last_deal_id == expected, user_id
        bumped = after[user_id].deal_context_version - versions_before[user_id]
        assert bumped == (1 if user_id in stale else 0), user_id


@pytest.mark.parametrize("stack", [POSTGRES_SQL, MARIADB_SQL], indirect=True)
def test_stale_deal_cleanup_is_one_update_per_chunk_of_users(app, demo, count_queries):
    def updates(batch_size: int) -> tuple[int, int]:
        with app.app_context(), count_queries() as log:
            clear_stale_deals(batch_size=batch_size)
        statements = [s.lstrip().upper() for s in log.app_statements]
        return sum(s.startswith("UPDATE USERS") for s in statements), len(statements)

    assert updates(10) == (1, 2)  # four users, one chunk: its boundary lookup and one UPDATE
    assert updates(2) == (3, 6)  # users 1-2, 3-4, then the (empty) rest: never a statement per user


@pytest.mark.parametrize("stack", SQL_STACKS, indirect=True)
def test_cleanup_jobs_run_through_the_registry_and_are_recorded(app, demo):
    for spec in JOBS:
        result = run_job(app, spec)
        assert result.status == "success", result
    assert {run.job: run.status for spec in JOBS for run in job_runs(app, spec.id)} == {
        spec.id: "success" for spec in JOBS
    }
