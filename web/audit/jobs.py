"""The audit retention job body (registered as ``audit_retention`` in web.jobs.registry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from web.audit import service as audit_log
from web.extensions import db


def purge_audit_trail(*, now: datetime | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Delete audit events older than ``AUDIT_RETENTION_DAYS`` (365 by default), in batches; returns how many."""
    config = current_app.config
    return audit_log.purge_old_events(
        db.session,
        keep_days=float(config.get("AUDIT_RETENTION_DAYS", audit_log.DEFAULT_RETENTION_DAYS)),
        batch_size=int(config.get("AUDIT_PURGE_BATCH_SIZE", audit_log.PURGE_BATCH_SIZE)),
        now=now,
        progress=progress,
    )
