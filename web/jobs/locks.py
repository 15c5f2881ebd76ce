"""Cluster-wide locks, one per job execution: whoever holds it runs, everyone else skips.

* PostgreSQL: a transaction-scoped advisory lock (``pg_try_advisory_xact_lock``) taken
  in a transaction that stays open for the run, so it works through PgBouncer in
  transaction pooling mode (nothing outlives the transaction); the server releases it
  when the transaction ends, and a killed holder's dropped connection ends it.
* Redis: redis-py's ``Lock`` (SET NX with an expiry, released by a compare-and-delete
  script), so a killed holder's lock expires by itself.
* MariaDB/MySQL: ``GET_LOCK`` on a connection held for the run (``NamedLock``; ``auto`` picks it there).
* Anywhere else (SQLite): a row in ``job_locks`` with an expiry; an expired row is
  taken over.

``JOB_LOCK_BACKEND`` picks one (``auto``: advisory on PostgreSQL, else Redis when the
sessions are on Redis, else the lock row).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Protocol

import redis
from flask import Flask
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from web.extensions import db
from web.jobs.models import JobLock
from web.platform.models import utcnow
from web.platform.redis_client import redis_client_for

log = logging.getLogger(__name__)

LOCK_BACKENDS = ("auto", "postgresql", "redis", "database", "mysql")


class ClusterLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock without waiting; False when someone else holds it."""

    def release(self) -> None:
        """Give the lock back (a no-op when it was lost meanwhile)."""


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(f"dealdesk:job:{name}".encode()).digest()[:8], "big", signed=True)


class _HeldConnectionLock:
    """A lock that lives on a database connection held for the run: taken on it, given back by ``release``,
    and gone with the connection if the holder dies. Subclasses say how to open, take and let go."""

    kind = "lock"

    def __init__(self, engine: Engine, key: int | str) -> None:
        self.engine = engine
        self.key = key
        self.conn: Connection | None = None

    def _open(self) -> Connection:
        raise NotImplementedError

    def _try(self, conn: Connection) -> bool:
        raise NotImplementedError

    def _let_go(self, conn: Connection) -> None:
        raise NotImplementedError

    def acquire(self) -> bool:
        conn = self._open()
        try:
            acquired = self._try(conn)
        except Exception:
            conn.close()
            raise
        if not acquired:
            conn.close()
            return False
        self.conn = conn
        return True

    def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            self._let_go(conn)
        except Exception:
            # Never hand a connection that may still hold the lock back to the pool.
            conn.invalidate()
            log.warning("could not release %s %s; connection discarded", self.kind, self.key, exc_info=True)
        finally:
            conn.close()


class AdvisoryLock(_HeldConnectionLock):
    """``pg_try_advisory_xact_lock`` in a transaction held open for the run; ended by ``release``.

    Transaction-scoped, not session-level: under PgBouncer's transaction pooling a server
    connection is handed to another client between transactions, so a session-level lock
    would stay on a connection this process no longer has (and another client could
    "unlock" it); an open transaction keeps its server connection until it ends. The
    transaction runs one SELECT under READ COMMITTED and takes no transaction id, so it
    holds back no vacuum while idle. A killed holder's connection drops, which ends the
    transaction and the lock with it (PgBouncer closes the server connection of a client
    that vanished inside a transaction).
    """

    kind = "advisory lock"

    def __init__(self, engine: Engine, name: str) -> None:
        super().__init__(engine, advisory_key(name))

    def _open(self) -> Connection:
        conn = self.engine.connect()
        try:
            conn.begin()
        except Exception:
            conn.close()
            raise
        return conn

    def _try(self, conn: Connection) -> bool:
        return bool(conn.scalar(select(func.pg_try_advisory_xact_lock(self.key))))

    def _let_go(self, conn: Connection) -> None:
        conn.rollback()  # the lock ends with its transaction


class RedisLock:
    def __init__(self, client: redis.Redis, key: str, ttl_seconds: int) -> None:
        self.lock = client.lock(key, timeout=ttl_seconds, blocking=False, thread_local=False)

    def acquire(self) -> bool:
        return bool(self.lock.acquire(blocking=False))

    def release(self) -> None:
        try:
            self.lock.release()
        except redis.exceptions.LockError:
            log.warning("job lock %s expired before the run finished", self.lock.name)


class RowLock:
    def __init__(self, engine: Engine, name: str, ttl_seconds: int) -> None:
        self.engine = engine
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        self.holder = holder_name()

    def acquire(self) -> bool:
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                # A holder that died leaves its row behind; once expired it is fair game.
                conn.execute(delete(JobLock).where(and_(JobLock.name == self.name, JobLock.expires_at < now)))
                conn.execute(insert(JobLock).values(name=self.name, holder=self.holder, expires_at=now + self.ttl))
        except IntegrityError:
            return False
        return True

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(JobLock).where(and_(JobLock.name == self.name, JobLock.holder == self.holder)))


def lock_backend(app: Flask) -> str:
    """The lock backend this app uses, resolving ``auto``."""
    choice = app.config["JOB_LOCK_BACKEND"]
    if choice != "auto":
        return str(choice)
    if db.engine.dialect.name == "postgresql":
        return "postgresql"
    if db.engine.dialect.name == "mysql":
        return "mysql"
    if app.config.get("SESSION_BACKEND") == "redis":
        return "redis"
    return "database"


def job_lock_redis(app: Flask) -> redis.Redis:
    """The sessions' Redis client when there is one; otherwise a fail-fast client of our own."""
    client = app.extensions.get("dealdesk_redis") or app.extensions.get("dealdesk_job_redis")
    if client is None:
        client = redis_client_for(app.config)  # REDIS_URL, or the primary via REDIS_SENTINELS
        app.extensions["dealdesk_job_redis"] = client
    return client


def make_lock(app: Flask, name: str, ttl_seconds: int) -> ClusterLock:
    """The cluster-wide lock for one execution of job ``name`` (call inside an app context)."""
    backend = lock_backend(app)
    if backend == "postgresql":
        return AdvisoryLock(db.engine, name)
    if backend == "redis":
        key = f"{app.config['JOB_LOCK_KEY_PREFIX']}{name}"
        return RedisLock(job_lock_redis(app), key, ttl_seconds)
    if backend == "database":
        return RowLock(db.engine, name, ttl_seconds)
    if backend == "mysql":
        return NamedLock(db.engine, name)
    raise ValueError(f"JOB_LOCK_BACKEND must be one of {', '.join(LOCK_BACKENDS)}, got {backend!r}")


# --- MariaDB / MySQL -------------------------------------------------------------------------------

# MySQL's limit on a GET_LOCK name (MariaDB has none; the stricter one keeps both working).
NAMED_LOCK_MAX_LENGTH = 64


def named_lock_key(database: str, name: str) -> str:
    """The ``GET_LOCK`` name for job ``name``: named locks are per server, so the database is part of it
    (two deployments sharing a server do not skip each other's jobs); hashed when over MySQL's limit."""
    key = f"dealdesk:{database}:job:{name}"
    if len(key) <= NAMED_LOCK_MAX_LENGTH:
        return key
    return f"dealdesk:job:{hashlib.sha256(key.encode()).hexdigest()[:48]}"


class NamedLock(_HeldConnectionLock):
    """MariaDB/MySQL: ``GET_LOCK`` on a connection held for the run (``JOB_LOCK_BACKEND=mysql``, the
    default there). Like PostgreSQL's advisory lock it belongs to the connection: the server releases
    it when the holder's connection ends, a killed process included."""

    kind = "named lock"

    def __init__(self, engine: Engine, name: str) -> None:
        super().__init__(engine, named_lock_key(engine.url.database or "", name))

    def _open(self) -> Connection:
        # Autocommit: the lock belongs to the connection, and no transaction stays open during the run.
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _try(self, conn: Connection) -> bool:
        # Timeout 0: do not wait. 1 taken, 0 held by another connection (NULL: an error).
        return conn.scalar(select(func.get_lock(self.key, 0))) == 1

    def _let_go(self, conn: Connection) -> None:
        conn.scalar(select(func.release_lock(self.key)))
