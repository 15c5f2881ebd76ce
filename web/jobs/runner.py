"""One job execution: take the cluster lock, run once per tick, record it in ``job_runs``.

However many schedulers fire the same tick (one per gunicorn worker, per host, plus
a standalone ``scheduler run``), the one that gets the lock first runs the job;
the others skip — either because the lock is held, or because, once they get it,
the tick has been claimed already (a ``job_locks`` row named after job and tick).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from web.extensions import db
from web.jobs.locks import holder_name, make_lock
from web.jobs.models import JobLock, JobRun
from web.jobs.registry import JobSpec
from web.platform.metrics import record_job_run
from web.platform.models import utcnow

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
# A tick's claim outlives the latest moment any scheduler could still fire that tick.
CLAIM_TTL = timedelta(days=1)


@dataclass(frozen=True)
class JobResult:
    job: str
    status: str  # success | failed | skipped
    rows_affected: int | None = None
    reason: str | None = None  # why it was skipped, or the error


def tick_claim_name(job: str, tick: datetime) -> str:
    return f"{job}@{tick.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"


def start_run(
    engine: Engine, job: str, *, tick: datetime | None = None, claim_ttl: timedelta = CLAIM_TTL
) -> int | None:
    """Record a new run; for a scheduled tick, first claim the tick. None when the tick was claimed already.

    The claim is a ``job_locks`` row named after the job and the tick, inserted in the
    same transaction as the run: the primary key lets one process in the cluster have
    it, on every database. Expired claims are swept on the way.
    """
    now = utcnow()
    try:
        with engine.begin() as conn:
            if tick is not None:
                conn.execute(
                    delete(JobLock).where(JobLock.name.startswith(f"{job}@", autoescape=True), JobLock.expires_at < now)
                )
                conn.execute(
                    insert(JobLock).values(
                        name=tick_claim_name(job, tick), holder=holder_name(), expires_at=tick + claim_ttl
                    )
                )
            return int(
                conn.execute(
                    insert(JobRun).values(job=job, started_at=now, status="running").returning(JobRun.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None


def finish_run(engine: Engine, run_id: int, *, status: str, rows: int | None = None, error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(finished_at=utcnow(), status=status, rows_affected=rows, error=error)
        )


def prune_runs(engine: Engine, job: str, keep: int) -> int:
    """Keep the newest ``keep`` rows of a job's history."""
    oldest_kept = (
        select(JobRun.id).where(JobRun.job == job).order_by(JobRun.id.desc()).offset(keep - 1).limit(1)
    ).scalar_subquery()
    with engine.begin() as conn:
        return conn.execute(delete(JobRun).where(JobRun.job == job, JobRun.id < oldest_kept)).rowcount


def _execute(
    app: Flask, spec: JobSpec, engine: Engine, run_id: int, progress: Callable[[int], None] | None
) -> JobResult:
    try:
        rows = spec.run(progress=progress) if progress is not None else spec.run()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        log.exception("job %s failed (run %s)", spec.id, run_id)
        finish_run(engine, run_id, status="failed", error=error)
        return JobResult(spec.id, "failed", reason=error)
    finish_run(engine, run_id, status="success", rows=rows)
    prune_runs(engine, spec.id, int(app.config["JOB_RUNS_KEPT"]))
    return JobResult(spec.id, "success", rows_affected=rows)


def _run_locked(app: Flask, spec: JobSpec, tick: datetime | None, progress: Callable[[int], None] | None) -> JobResult:
    engine = db.engine
    lock = make_lock(app, spec.id, spec.lock_ttl_seconds)
    if not lock.acquire():
        return JobResult(spec.id, "skipped", reason="another process holds the lock")
    try:
        run_id = start_run(engine, spec.id, tick=tick)
        if run_id is None:
            return JobResult(spec.id, "skipped", reason="this tick already ran")
        return _execute(app, spec, engine, run_id, progress)
    finally:
        lock.release()


def run_job(
    app: Flask,
    spec: JobSpec,
    *,
    tick: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> JobResult:
    """Run ``spec`` once under its cluster lock; ``tick`` (the scheduled time) makes repeats of a tick skip.

    Never raises for a failing job body: the failure is recorded in ``job_runs``
    and logged, so the scheduler carries on with the next tick.
    """
    with app.app_context():
        try:
            result = _run_locked(app, spec, tick, progress)
        except Exception as exc:
            # The lock backend or the database is down: nothing ran, and nothing could be recorded.
            log.error("job %s could not run: %s: %s", spec.id, type(exc).__name__, exc)
            result = JobResult(spec.id, "failed", reason=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
    record_job_run(spec.id, result.status, time.time())
    log.info("job %s: %s (rows=%s, reason=%s)", spec.id, result.status, result.rows_affected, result.reason)
    return result
