"""APScheduler 3 wiring: one BackgroundScheduler per process, embedded or standalone.

APScheduler 3 keeps its jobs in memory and cannot share a job store between
processes, so every process that runs a scheduler fires every tick; the cluster
lock and the tick check in ``web.jobs.runner`` make each tick run once.

Nothing starts at import time: gunicorn's ``post_worker_init`` hook calls
``start_embedded_scheduler`` after the worker has forked and loaded the app (when
``SCHEDULER_ENABLED=1``), and ``flask --app web scheduler run`` runs one in the foreground.
"""

from __future__ import annotations

import atexit
import functools
import logging
import re
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from web.jobs.registry import JOBS, JobSpec
from web.jobs.runner import run_job

log = logging.getLogger(__name__)

EXTENSION_KEY = "dealdesk_scheduler"
CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    """A cron expression in the configuration does not parse."""


def parse_crontab(expression: str, timezone: str = "UTC") -> CronTrigger:
    """A five-field crontab expression as a trigger, with crontab's day numbers (0 and 7 = Sunday).

    APScheduler 3's ``CronTrigger.from_crontab`` reads day 0 as Monday; numbers are
    turned into day names first so an operator's ordinary crontab means what it says.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(f"cron expression {expression!r} must have 5 fields: minute hour day month day-of-week")
    minute, hour, day, month, weekday = fields
    weekday = re.sub(r"(?<![/\d])\d+", lambda m: CRONTAB_DAYS[int(m.group())] if int(m.group()) <= 7 else "?", weekday)
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=timezone)
    except ValueError as exc:
        raise ScheduleError(f"cron expression {expression!r} is not valid: {exc}") from exc


def job_cron(app: Flask, spec: JobSpec) -> str:
    return str(app.config[spec.cron_setting])


def job_trigger(app: Flask, spec: JobSpec) -> CronTrigger:
    return parse_crontab(job_cron(app, spec), str(app.config["SCHEDULER_TIMEZONE"]))


def job_period(app: Flask, spec: JobSpec, now: datetime | None = None) -> timedelta:
    """The time between two consecutive runs (the "overdue" check allows twice this).

    Taken from the first two runs after the start of the current hour, and kept for
    that hour: the health endpoint asks for every job on every poll, and working out
    cron fire times cost more than the rest of the health check together.
    """
    hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    return _cron_period(job_cron(app, spec), str(app.config["SCHEDULER_TIMEZONE"]), hour)


@functools.lru_cache(maxsize=64)
def _cron_period(expression: str, timezone: str, start: datetime) -> timedelta:
    trigger = parse_crontab(expression, timezone)
    first = trigger.get_next_fire_time(None, start)
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1)) if first else None
    if first is None or second is None:
        return timedelta(days=7)
    return second - first


def latest_fire_time(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The scheduled time this execution belongs to: the trigger's last fire time at or before ``now``.

    APScheduler runs a job within its misfire grace time of the scheduled time, so
    looking back that far finds it; the job function itself is not told.
    """
    fire_time = trigger.get_next_fire_time(None, now - lookback)
    latest = None
    while fire_time is not None and fire_time <= now:
        latest = fire_time
        fire_time = trigger.get_next_fire_time(fire_time, fire_time + timedelta(microseconds=1))
    return latest


def run_scheduled(app: Flask, spec: JobSpec, trigger: BaseTrigger, grace_seconds: float) -> None:
    """What APScheduler calls: one execution, tagged with the tick it belongs to."""
    now = datetime.now(UTC)
    tick = latest_fire_time(trigger, now, timedelta(seconds=grace_seconds + 1)) or now
    run_job(app, spec, tick=tick)


def build_scheduler(
    app: Flask, *, jobs: tuple[JobSpec, ...] = JOBS, triggers: dict[str, BaseTrigger] | None = None
) -> BackgroundScheduler:
    """A scheduler (not started) with every job; tests pass their own ``triggers`` by job id."""
    grace = float(app.config["SCHEDULER_MISFIRE_GRACE_SECONDS"])
    scheduler = BackgroundScheduler(
        timezone=str(app.config["SCHEDULER_TIMEZONE"]),
        # One run at a time per process; a backlog of missed ticks collapses into one run.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(grace)},
    )
    for spec in jobs:
        trigger = (triggers or {}).get(spec.id) or job_trigger(app, spec)
        scheduler.add_job(
            run_scheduled, trigger=trigger, args=[app, spec, trigger, grace], id=spec.id, name=spec.description
        )
    return scheduler


def start_embedded_scheduler(app: Flask) -> BackgroundScheduler | None:
    """Start this process's scheduler when ``SCHEDULER_ENABLED`` is set; at most once per app and process."""
    if not app.config.get("SCHEDULER_ENABLED"):
        return None
    running = app.extensions.get(EXTENSION_KEY)
    if running is not None:
        return running
    scheduler = build_scheduler(app)
    scheduler.start()
    app.extensions[EXTENSION_KEY] = scheduler
    atexit.register(stop_embedded_scheduler, app)
    log.info("scheduler started with jobs: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    return scheduler


def stop_embedded_scheduler(app: Flask, wait: bool = True) -> None:
    """Stop the embedded scheduler; ``wait`` lets a running job finish (gunicorn's graceful timeout bounds it)."""
    scheduler = app.extensions.pop(EXTENSION_KEY, None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=wait)
        log.info("scheduler stopped")


def run_scheduler_forever(app: Flask, stop: threading.Event) -> None:
    """The standalone scheduler process: run until ``stop`` is set (SIGTERM or SIGINT)."""
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler running with jobs: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("scheduler stopped")
