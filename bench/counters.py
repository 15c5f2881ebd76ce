"""Server-side counters read around a measured run: what each request cost the stores.

Redis: ``INFO commandstats`` of the bench's own Redis (commands by name).
PostgreSQL: ``pg_stat_database`` of the target's own database (transactions, rows
returned). Both are per server or per database, so only the measured target adds to them
(the cluster's scheduler adds a handful of transactions a minute).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg2
import redis

# PostgreSQL 15 backends flush their statistics at most once a second, and when idle.
PG_STATS_SETTLE_SECONDS = 1.5


@dataclass(frozen=True)
class Counters:
    redis_commands: dict[str, int]
    pg_transactions: int
    pg_rows_returned: int


def read_counters(redis_url: str, admin_url: str, database: str | None) -> Counters:
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    commands = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    transactions = rows = 0
    if database is not None:
        conn = psycopg2.connect(admin_url, connect_timeout=3)
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT xact_commit + xact_rollback, tup_returned FROM pg_stat_database WHERE datname = %s",
                    (database,),
                )
                row = cursor.fetchone()
                transactions, rows = (int(row[0]), int(row[1])) if row else (0, 0)
        finally:
            conn.close()
    return Counters(commands, transactions, rows)


def per_request(before: Counters, after: Counters, requests: int) -> dict[str, object]:
    """The difference, divided by the requests wrk completed (rounded: a few were in flight at the ends)."""
    requests = max(requests, 1)
    commands = {
        name: round((calls - before.redis_commands.get(name, 0)) / requests, 2)
        for name, calls in after.redis_commands.items()
        if calls - before.redis_commands.get(name, 0) >= requests * 0.05 and name not in ("info", "ping")
    }
    return {
        "redis_commands_per_request": dict(sorted(commands.items())),
        "pg_transactions_per_request": round((after.pg_transactions - before.pg_transactions) / requests, 2),
        "pg_rows_returned_per_request": round((after.pg_rows_returned - before.pg_rows_returned) / requests, 2),
    }


def settle() -> None:
    time.sleep(PG_STATS_SETTLE_SECONDS)
