"""The session health document: store probe, database check, job freshness.

Safe to poll every second from a load balancer: no session is opened or written,
at most three backend round trips per call, each bounded by short timeouts, and
nothing in the answer names a host, a URL or a credential.

Every database wait of one call ends within ``HEALTH_DB_TIMEOUT_SECONDS`` in all
(``web.platform.db.database_deadline``), so a database that stops answering makes the
check unhealthy (503) in about that time (a quarter second once the worker knows it silent:
``database_budget``), and a Redis that does not answer costs at most
its socket timeout.

Round trips: Redis backend — one pipelined MULTI (SET PX, GET, DEL) and one SQL
statement (the job status query, which is also the database check). SQL backend —
INSERT and DELETE ... RETURNING of a probe row, then the job status query. The
checks use their own small autocommit engine without pre-ping, so no BEGIN,
COMMIT or ping adds a round trip, and the timeouts are the health check's own.

The job freshness comes from the jobs package, which the factory plugs in
(``set_scheduler_report``): platform code does not import the domains.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis
from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, delete, insert

from web.config import server_connect_args
from web.extensions import db
from web.platform.db import database_deadline, retry_stale_connection, server_of_url, silent_servers
from web.platform.models import utcnow
from web.platform.outages import database_incident
from web.platform.session_store.base import report_store_failure, report_store_recovered
from web.platform.session_store.models import SessionRecord

log = logging.getLogger(__name__)

ENGINE_KEY = "dealdesk_health_engine"
SCHEDULER_KEY = "dealdesk_health_scheduler"
PROBE_TTL_SECONDS = 10
PROBE_VALUE = b"dealdesk-health-probe"
# The database budget of a check while the database is known silent (see ``database_budget``).
SILENT_DATABASE_BUDGET_SECONDS = 0.25
_built_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


@dataclass(frozen=True)
class Check:
    ok: bool
    latency_ms: float

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 2)}


class SchedulerReport(Protocol):
    """The scheduler's part of the health document, given by the jobs package."""

    def query(self, conn: Connection) -> Any:
        """Read the jobs' state in one statement: it is the database check too."""

    def describe(self, app: Flask, state: Any | None, now: datetime) -> tuple[dict[str, Any], bool]:
        """Each job's last status and success, as JSON, and whether any job is overdue
        (``state`` is None when the query failed)."""


def set_scheduler_report(app: Flask, report: SchedulerReport) -> None:
    """Plug the jobs' report into this app's health document (the factory does)."""
    app.extensions[SCHEDULER_KEY] = report


def _build_health_engine(app: Flask) -> Engine:
    url = db.engine.url
    timeout = float(app.config["HEALTH_DB_TIMEOUT_SECONDS"])
    if url.drivername.startswith("sqlite"):
        if url.database in (None, "", ":memory:"):
            return db.engine  # one shared in-memory database: only the app's own engine sees it
        engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"timeout": timeout, "check_same_thread": False}
        )
        _built_engines.add(engine)
        return engine
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=1,
        max_overflow=2,
        pool_timeout=timeout,
        pool_pre_ping=False,  # a ping would be a fourth round trip; a dead connection is retried once instead
        # The app's socket settings with the health check's own bounds: each statement is cancelled
        # by the server after ``timeout`` (a SET at connect; behind PgBouncer the pool's timeout), and
        # health_document's database_deadline ends every wait of one call within ``timeout`` in all.
        connect_args=server_connect_args(
            url,
            connect_seconds=min(timeout, float(app.config["DATABASE_CONNECT_TIMEOUT_SECONDS"])),
            statement_seconds=timeout,
            pooler=str(app.config.get("DATABASE_POOLER", "none")),
        ),
    )
    _built_engines.add(engine)
    return engine


def health_engine(app: Flask) -> Engine:
    """The health check's own small engine (built on first use, inside an app context)."""
    engine = app.extensions.get(ENGINE_KEY)
    if engine is None:
        engine = app.extensions[ENGINE_KEY] = _build_health_engine(app)
    return engine


def close_health_connections() -> None:
    """Close the pooled connections of every health engine in this process (tests call it between tests)."""
    for engine in list(_built_engines):
        engine.dispose()


def probe_redis(client: redis.Redis, key_prefix: str) -> bool:
    """Write, read and delete a probe key with a short expiry, in one round trip."""
    key = f"{key_prefix}health-probe:{uuid.uuid4().hex}"
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, PROBE_VALUE, ex=PROBE_TTL_SECONDS)
        pipe.get(key)
        pipe.delete(key)
        _, value, _ = pipe.execute()
    return value == PROBE_VALUE


def probe_sql_store(engine: Engine, key_prefix: str) -> bool:
    """Write, then read back while deleting, a probe row with a short expiry (the cleanup job removes strays).

    The probe id contains ':', which no session cookie may, so no browser can address it.
    """
    store_id = f"{key_prefix}health-probe:{uuid.uuid4().hex}"
    expiry = utcnow() + timedelta(seconds=PROBE_TTL_SECONDS)
    with engine.connect() as conn:
        conn.execute(insert(SessionRecord).values(session_id=store_id, data=PROBE_VALUE, expiry=expiry, version=1))
        value = conn.execute(
            delete(SessionRecord).where(SessionRecord.session_id == store_id).returning(SessionRecord.data)
        ).scalar()
    return value is not None and bytes(value) == PROBE_VALUE


def check_session_store(app: Flask) -> Check:
    prefix = str(app.config["SESSION_KEY_PREFIX"])
    if app.config["SESSION_BACKEND"] == "redis":
        client = app.extensions["dealdesk_redis"]
        probe: Any = lambda: probe_redis(client, prefix)  # noqa: E731
    else:
        engine = health_engine(app)
        probe = lambda: retry_stale_connection(lambda: probe_sql_store(engine, prefix))  # noqa: E731
    started = time.perf_counter()
    try:
        ok = bool(probe())
    except Exception as exc:
        # Logged once per incident, like a failed session load (the health check runs every second).
        report_store_failure("health", exc)
        ok = False
    else:
        report_store_recovered()
    return Check(ok, (time.perf_counter() - started) * 1000)


def check_database(app: Flask, scheduler: SchedulerReport) -> tuple[Check, Any | None]:
    """The scheduler's query, timed: it is the database check too. Its result is None when it failed."""
    engine = health_engine(app)

    def query() -> Any:
        with engine.connect() as conn:
            return scheduler.query(conn)

    started = time.perf_counter()
    try:
        state = retry_stale_connection(query)
    except Exception as exc:
        database_incident.failed(exc)
        return Check(False, (time.perf_counter() - started) * 1000), None
    database_incident.recovered()
    return Check(True, (time.perf_counter() - started) * 1000), state


def database_budget(app: Flask) -> float:
    """Seconds all the database waits of one check may take: ``HEALTH_DB_TIMEOUT_SECONDS``, or a quarter second
    while this process knows the database silent (``web.platform.db.SilentServers``).

    A silent database's first wait is let through and waits its whole bound. Under load a poll
    can reach a worker only once the requests ahead of it have waited out theirs (1.25 s), and
    if it was then that first wait with the full budget, the check said "unhealthy" 2.4 s after
    the freeze (a fault run). Once the database is known silent, the check only has to learn
    whether it answers again, which a server that is back does in milliseconds.
    """
    budget = float(app.config["HEALTH_DB_TIMEOUT_SECONDS"])
    silent = silent_servers.any() and silent_servers.is_silent(server_of_url(health_engine(app).url))
    return min(budget, SILENT_DATABASE_BUDGET_SECONDS) if silent else budget


def health_document(app: Flask) -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status: 200 healthy or degraded, 503 unhealthy."""
    scheduler: SchedulerReport = app.extensions[SCHEDULER_KEY]
    # One budget for every database wait of this call (the SQL store's probe and the database
    # check): a database that stops answering makes the answer a 503 within it, not a hang.
    with database_deadline(database_budget(app)):
        store = check_session_store(app)
        database, jobs_state = check_database(app, scheduler)
    jobs, overdue = scheduler.describe(app, jobs_state, datetime.now(UTC))
    slow = store.latency_ms > float(app.config["HEALTH_SLOW_STORE_MS"])
    if not (store.ok and database.ok):
        state = "unhealthy"
    elif overdue or slow:
        state = "degraded"
    else:
        state = "healthy"
    document = {
        "status": state,
        "backend": app.config["SESSION_BACKEND"],
        "checks": {
            "session_store": store.as_json(),
            "database": database.as_json(),
            "scheduler": {"jobs": jobs},
        },
        "version": str(app.config["APP_VERSION"]),
    }
    return document, 503 if state == "unhealthy" else 200
