"""The jobs in the operations views: each job's freshness in the health document, and
``job_last_success_timestamp_seconds`` on ``/metrics``. The factory plugs them in
(``register_job_health``), since the platform's health and metrics code never imports the jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import Connection

from web.jobs.registry import JOBS
from web.jobs.scheduler import job_period
from web.jobs.status import JobStatus, JobStatusCollector, job_statuses
from web.platform.health.checks import set_scheduler_report
from web.platform.metrics import add_scrape_collector


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class JobsReport:
    """The health document's ``scheduler`` check: the job status query, and each job's freshness."""

    def query(self, conn: Connection) -> dict[str, JobStatus]:
        return job_statuses(conn)

    def describe(self, app: Flask, state: dict[str, JobStatus] | None, now: datetime) -> tuple[dict[str, Any], bool]:
        statuses = state or {}
        jobs = {}
        overdue = False
        for spec in JOBS:
            status = statuses.get(spec.id) or JobStatus(job=spec.id)
            jobs[spec.id] = {"last_status": status.last_status, "last_success_at": _iso(status.last_success_at)}
            overdue = overdue or status.overdue(job_period(app, spec, now), now)
        return jobs, overdue


def register_job_health(app: Flask) -> None:
    """Report the jobs in this app's health document and on its ``/metrics``."""
    set_scheduler_report(app, JobsReport())
    add_scrape_collector(app, JobStatusCollector())
