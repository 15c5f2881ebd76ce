"""What the jobs did last, from ``job_runs``: for the health document, ``jobs status`` and ``/metrics``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Select, bindparam, func, select

from web.jobs.models import JobRun
from web.jobs.registry import JOBS
from web.platform.health.checks import health_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobStatus:
    job: str
    last_status: str | None = None
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_rows: int | None = None
    last_error: str | None = None
    last_success_at: datetime | None = None

    def overdue(self, period: timedelta, now: datetime) -> bool:
        """Its last success is older than twice its period. A job that never succeeded is not overdue:
        a fresh install has no history yet."""
        return self.last_success_at is not None and now - self.last_success_at > 2 * period


@functools.cache
def _statuses_statement() -> Select[Any]:
    # Built once: the health endpoint runs it on every poll, and building it cost more than running it.
    success = JobRun.__table__.alias("success")
    last_success = (
        select(func.max(success.c.finished_at))
        .where(success.c.job == JobRun.job, success.c.status == "success")
        .scalar_subquery()
    )
    latest_ids = (
        select(func.max(JobRun.id)).where(JobRun.job.in_(bindparam("ids", expanding=True))).group_by(JobRun.job)
    )
    return select(
        JobRun.job,
        JobRun.status,
        JobRun.started_at,
        JobRun.finished_at,
        JobRun.rows_affected,
        JobRun.error,
        last_success.label("last_success_at"),
    ).where(JobRun.id.in_(latest_ids))


def job_statuses(conn: Connection, job_ids: Iterable[str] | None = None) -> dict[str, JobStatus]:
    """Every job's latest run and last success, in one statement."""
    ids = list(job_ids) if job_ids is not None else [spec.id for spec in JOBS]
    rows = conn.execute(_statuses_statement(), {"ids": ids}).all()
    found = {
        row.job: JobStatus(
            job=row.job,
            last_status=row.status,
            last_started_at=row.started_at,
            last_finished_at=row.finished_at,
            last_rows=row.rows_affected,
            last_error=row.error,
            last_success_at=_aware(row.last_success_at),
        )
        for row in rows
    }
    return {job: found.get(job, JobStatus(job=job)) for job in ids}


def _aware(value: datetime | None) -> datetime | None:
    # max() over a UTCDateTime column comes back without the type's conversion on some dialects.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class JobStatusCollector(Collector):
    """``job_last_success_timestamp_seconds{job}`` from ``job_runs``: the cluster's answer, on every instance."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "job_last_success_timestamp_seconds",
            "Unix time of the last successful run of each job anywhere in the cluster (from job_runs).",
            labels=["job"],
        )
        try:
            with health_engine(current_app._get_current_object()).connect() as conn:  # type: ignore[attr-defined]
                statuses = job_statuses(conn)
        except Exception as exc:
            log.warning("job status unavailable for /metrics: %s: %s", type(exc).__name__, exc)
            return
        for job, status in statuses.items():
            if status.last_success_at is not None:
                family.add_metric([job], status.last_success_at.timestamp())
        yield family
