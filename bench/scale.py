"""The cleanup jobs at scale on PostgreSQL or MariaDB: 1,000,000 expired SQL sessions, 1,000,000 users.

Bulk-generates the rows with ``generate_series`` (MariaDB: its ``seq_1_to_N`` sequence tables) in a
database of its own (``dealdesk_scale`` on the machine's PostgreSQL, or with ``--database mariadb``
on its MariaDB, migrated with ``flask db upgrade``),
then calls the job bodies the scheduler runs (``web.jobs.cleanup``) and times every
SQL statement they send (SQLAlchemy cursor events): total time, statements, and the
longest single statement — what another transaction could be kept waiting for.

    .venv/bin/python -m bench.scale [--database postgresql|mariadb] [--sessions 1000000] [--users 1000000]
        [--stale-percent 10] [--write-doc]

The seed runs without the statement bounds (web.platform.db.without_statement_bounds); the jobs run
with them, as in production: a statement over ``DATABASE_STATEMENT_TIMEOUT_SECONDS`` would fail the job.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, text

from bench import procs
from bench.cluster import LOCAL_ADMIN_URL
from bench.procs import REPO, VENV_BIN
from bench.report import write_block
from bench.run import RESULTS_DIR, recreate_database
from bench.scratch_databases import MARIADB_CHARSET, mariadb_admin
from bench.seed import NOW_UTC, demo_password_hash, seed_bench_users
from web.platform.db import without_statement_bounds

DATABASE = "dealdesk_scale"
MARIADB_ADMIN_URL = os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
MARIADB_NOW = "UTC_TIMESTAMP(6)"
LIVE_SESSIONS = 10_000


@dataclass
class StatementLog:
    durations: list[tuple[float, str]] = field(default_factory=list)
    _started: dict[int, float] = field(default_factory=dict)

    @property
    def longest(self) -> tuple[float, str]:
        return max(self.durations, default=(0.0, ""))


@contextmanager
def timed_statements(engine: Engine) -> Iterator[StatementLog]:
    """Record the duration of every statement executed on ``engine``."""
    log = StatementLog()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log._started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = log._started.pop(id(cursor), None)
        if started is not None:
            log.durations.append((time.perf_counter() - started, " ".join(statement.split())[:160]))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def seed(engine: Engine, *, sessions: int, users: int, stale_percent: float) -> dict[str, float]:
    """Expired and live session rows; users each owning one deal, ``stale_percent`` of those deals deleted."""
    if engine.dialect.name == "mysql":
        return seed_mariadb(engine, sessions=sessions, users=users, stale_percent=stale_percent)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sessions (session_id, data, expiry, version)"
                " SELECT 'expired:' || md5(g::text), '\\x80'::bytea,"
                f" {NOW_UTC} - interval '1 day' - g * interval '1 s', 1"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": sessions},
        )
        conn.execute(
            text(
                "INSERT INTO sessions (session_id, data, expiry, version)"
                f" SELECT 'live:' || md5(g::text), '\\x80'::bytea, {NOW_UTC} + interval '1 day', 1"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": LIVE_SESSIONS},
        )
    timings["seed_sessions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        seed_bench_users(conn, users=users, deals_per_user=1, password_hash=demo_password_hash(), prefix="scale")
        conn.execute(
            text(f"UPDATE deals SET deleted_at = {NOW_UTC} WHERE id % :every = 0"),
            {"every": max(1, round(100 / stale_percent))},
        )
    timings["seed_users_s"] = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return timings


def seed_mariadb(engine: Engine, *, sessions: int, users: int, stale_percent: float) -> dict[str, float]:
    """``seed`` on MariaDB: the same rows from its sequence tables, without the statement bounds."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with engine.connect() as conn, without_statement_bounds(conn):
        conn.execute(
            text(
                "INSERT INTO sessions (session_id, data, expiry, version)"
                " SELECT CONCAT('expired:', MD5(seq)), X'80',"
                f" {MARIADB_NOW} - INTERVAL 1 DAY - INTERVAL seq SECOND, 1 FROM seq_1_to_{int(sessions)}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO sessions (session_id, data, expiry, version)"
                f" SELECT CONCAT('live:', MD5(seq)), X'80', {MARIADB_NOW} + INTERVAL 1 DAY, 1"
                f" FROM seq_1_to_{LIVE_SESSIONS}"
            )
        )
        conn.commit()
        timings["seed_sessions_s"] = time.perf_counter() - started
        started = time.perf_counter()
        org = conn.execute(
            text(f"INSERT INTO organizations (name, created_at) VALUES ('Bench Capital', {MARIADB_NOW}) RETURNING id")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO users (organization_id, email, password_hash, role, is_active, deal_context_version,"
                " created_at, updated_at)"
                f" SELECT :org, CONCAT('scale-', seq, '@bench.test'), :hash, 'member', 1, 0, {MARIADB_NOW},"
                f" {MARIADB_NOW} FROM seq_1_to_{int(users)}"
            ),
            {"org": org, "hash": demo_password_hash()},
        )
        conn.execute(
            text(
                "INSERT INTO deals (organization_id, owner_id, name, stage, value, created_at, updated_at)"
                f" SELECT :org, id, CONCAT('Bench deal ', id, '-1'), 'sourcing', 1000, {MARIADB_NOW}, {MARIADB_NOW}"
                " FROM users WHERE organization_id = :org ORDER BY id"
            ),
            {"org": org},
        )
        conn.execute(
            text(
                "UPDATE users JOIN deals ON deals.owner_id = users.id SET users.last_deal_id = deals.id"
                " WHERE users.organization_id = :org"
            ),
            {"org": org},
        )
        conn.execute(
            text(f"UPDATE deals SET deleted_at = {MARIADB_NOW} WHERE id % :every = 0"),
            {"every": max(1, round(100 / stale_percent))},
        )
        conn.commit()
        timings["seed_users_s"] = time.perf_counter() - started
        conn.execute(text("ANALYZE TABLE sessions, users, deals, deal_members")).all()
    return timings


def recreate_mariadb_database(admin_url: str, name: str) -> None:
    with mariadb_admin(admin_url) as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` {MARIADB_CHARSET}")


def count(engine: Engine, sql: str) -> int:
    """A check of the bench's own, over every row: not bound like the jobs' statements."""
    with engine.connect() as conn, without_statement_bounds(conn):
        return int(conn.execute(text(sql)).scalar_one())


def measure_job(engine: Engine, name: str, body: Callable[[], int]) -> dict[str, Any]:
    with timed_statements(engine) as log:
        started = time.perf_counter()
        rows = body()
        total = time.perf_counter() - started
    longest, statement = log.longest
    return {
        "job": name,
        "rows_affected": rows,
        "total_s": round(total, 3),
        "statements": len(log.durations),
        "longest_statement_s": round(longest, 3),
        "longest_statement": statement,
    }


def run(sessions: int, users: int, stale_percent: float, database: str = "postgresql") -> dict[str, Any]:
    from web import create_app
    from web.config import config_from_env
    from web.extensions import db
    from web.jobs.cleanup import cleanup_expired_sessions, clear_stale_deals

    if database == "mariadb":
        url = MARIADB_ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"

        def recreate() -> None:
            recreate_mariadb_database(MARIADB_ADMIN_URL, DATABASE)
    else:
        url = LOCAL_ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"

        def recreate() -> None:
            recreate_database(LOCAL_ADMIN_URL, DATABASE)

    recreate()
    env = {"DATABASE_URL": url, "SESSION_BACKEND": "sqlalchemy", "APP_ENV": "development"}
    procs.run([str(VENV_BIN / "flask"), "--app", "web", "db", "upgrade"], env=env)
    # The batch size production would use on this database (its default depends on DATABASE_URL).
    batch = config_from_env({**os.environ, "DATABASE_URL": url})["SESSION_CLEANUP_BATCH_SIZE"]
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SESSION_BACKEND": "sqlalchemy",
            "LOG_LEVEL": "WARNING",
            "SESSION_CLEANUP_BATCH_SIZE": batch,
        }
    )
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_before": os.getloadavg(),
        "command": " ".join(["python -m bench.scale", *sys.argv[1:]]),
        "database": database,
        "sessions": sessions,
        "users": users,
        "stale_percent": stale_percent,
        "batch_size": app.config.get("SESSION_CLEANUP_BATCH_SIZE"),
    }
    with app.app_context():
        engine = db.engine
        report["seed"] = seed(engine, sessions=sessions, users=users, stale_percent=stale_percent)
        stale = count(
            engine, "SELECT count(*) FROM users u JOIN deals d ON d.id = u.last_deal_id WHERE d.deleted_at IS NOT NULL"
        )
        report["session_cleanup"] = measure_job(engine, "session_cleanup", cleanup_expired_sessions)
        report["session_cleanup"]["live_sessions_kept"] = count(engine, "SELECT count(*) FROM sessions")
        report["stale_deal_cleanup"] = measure_job(engine, "stale_deal_cleanup", clear_stale_deals)
        report["stale_deal_cleanup"]["stale_before"] = stale
        report["stale_deal_cleanup"]["stale_after"] = count(
            engine, "SELECT count(*) FROM users u JOIN deals d ON d.id = u.last_deal_id WHERE d.deleted_at IS NOT NULL"
        )
        engine.dispose()
    report["loadavg_after"] = os.getloadavg()
    recreate()  # leave an empty database, not 3 GB of rows
    return report


def render(report: dict[str, Any], path: str) -> str:
    lines = [
        f"Run of {report['started_at']} on {report.get('database', 'postgresql')} — `{path}`."
        f" Command: `.venv/bin/{report['command']}`.",
        f"Load average (1 min) before {report['loadavg_before'][0]:.2f}, after {report['loadavg_after'][0]:.2f};"
        f" session cleanup batch size {report['batch_size']}.",
        "",
        "| job | rows | total s | statements | longest statement s | longest statement |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key in ("session_cleanup", "stale_deal_cleanup"):
        job = report[key]
        lines.append(
            f"| `{job['job']}` | {job['rows_affected']:,} | {job['total_s']:.2f} | {job['statements']} |"
            f" {job['longest_statement_s']:.3f} | `{job['longest_statement'][:90]}…` |"
        )
    sessions, stale = report["session_cleanup"], report["stale_deal_cleanup"]
    lines += [
        "",
        f"Sessions: {report['sessions']:,} expired rows and {LIVE_SESSIONS:,} live ones; after the job"
        f" {sessions['live_sessions_kept']:,} rows remain. Users: {report['users']:,}, each owning one deal,"
        f" {report['stale_percent']:g} % of the deals deleted: {stale['stale_before']:,} stale references before,"
        f" {stale['stale_after']:,} after.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "mariadb"), default="postgresql")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--stale-percent", type=float, default=10.0)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args(argv)
    report = run(args.sessions, args.users, args.stale_percent, args.database)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"scale-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    markdown = render(report, str(path.relative_to(REPO)))
    print(markdown)
    if args.write_doc:
        write_block("scale" if args.database == "postgresql" else f"scale-{args.database}", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
