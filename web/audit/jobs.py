"""The audit retention job body (registered as ``audit_retention`` in web.jobs.registry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from web.audit import service as audit_log
from web.extensions import db


def purge_audit_trail(*, now: datetime | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Delete audit events older than ``AUDIT_RETENTION_DAYS``, ``AUDIT_PURGE_BATCH_SIZE`` a batch; returns how many."""
    config = current_app.config
    return audit_log.purge_old_events(
        db.session,
        keep_days=float(config["AUDIT_RETENTION_DAYS"]),
        batch_size=int(config["AUDIT_PURGE_BATCH_SIZE"]),
        now=now,
        progress=progress,
    )
