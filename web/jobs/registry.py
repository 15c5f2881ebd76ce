"""The scheduled jobs, declared in one place with stable ids.

Adding a job is one entry in ``JOBS``: a stable id (it names the lock, the
``job_runs`` rows and the metrics labels, so never rename one), the plain
function that does the work and the config key of its cron expression (whose
default is in ``web.config``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from web.audit.jobs import purge_audit_trail
from web.identity.session_sync import settle_all
from web.jobs.cleanup import cleanup_expired_sessions, clear_stale_deals

# A job body: runs inside an app context, returns the number of rows it affected,
# and may call ``progress(rows_so_far)`` after each batch.
Progress = Callable[[int], None]
JobBody = Callable[..., int]


@dataclass(frozen=True)
class JobSpec:
    id: str
    run: JobBody
    cron_setting: str
    description: str
    # A cluster lock that outlives its holder (a killed process) expires after this long.
    lock_ttl_seconds: int = 3600


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        id="session_cleanup",
        run=cleanup_expired_sessions,
        cron_setting="SESSION_CLEANUP_CRON",
        description="Delete expired SQL sessions and stale rows of the per-user session index",
    ),
    JobSpec(
        id="stale_deal_cleanup",
        run=clear_stale_deals,
        cron_setting="STALE_DEAL_CLEANUP_CRON",
        description="Clear users.last_deal_id where the deal is deleted or no longer visible",
    ),
    JobSpec(
        id="session_sync",
        run=settle_all,
        cron_setting="SESSION_SYNC_CRON",
        description="Apply the session-store changes the database recorded and the store has not yet taken",
        lock_ttl_seconds=300,
    ),
    JobSpec(
        id="audit_retention",
        run=purge_audit_trail,
        cron_setting="AUDIT_RETENTION_CRON",
        description="Delete audit events older than AUDIT_RETENTION_DAYS (365), in batches",
    ),
)


def get_job(job_id: str, jobs: tuple[JobSpec, ...] = JOBS) -> JobSpec:
    """The job with this id; ``KeyError`` names the known ids."""
    for spec in jobs:
        if spec.id == job_id:
            return spec
    raise KeyError(f"unknown job {job_id!r}; known jobs: {', '.join(spec.id for spec in jobs)}")
