"""The per-route micro-benchmark (``python -m bench.routes``) runs end to end on PostgreSQL + Redis sessions.

Tiny batches, no timing asserted: every row is there with a statement count, and the
run leaves neither its scratch database nor its Redis keys behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import redis
from sqlalchemy.engine import make_url

from bench.procs import REPO

ROWS = [
    "hello",
    "limit-json",
    "limit-jinja",
    "flask-session-read-only",
    "flask-session-defaults",
    "current-fast",
    "current-flask",
    "me",
    "deal",
    "deals",
    "notes",
    "audit",
    "home",
    "deals-page",
    "deal-page",
    "sessions-page",
    "users-page",
    "audit-page",
    "select",
]
REFERENCE_ROWS = {"hello", "limit-json", "limit-jinja", "flask-session-read-only", "flask-session-defaults"}
COUNTED_REQUESTS = 2


def test_route_bench_reports_every_route_with_its_statements(postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    report_path = tmp_path / "routes.json"
    argv = ["--batches", "1", "--requests", "2", "--min-batch-ms", "0", "--warmup", "1"]
    argv += ["--count-requests", str(COUNTED_REQUESTS), "--database-url", postgres_url, "--redis-url", redis_url]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.routes", *argv, "--json", str(report_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, stderr[-3000:]

    report = json.loads(report_path.read_text())
    rows = {row["key"]: row for row in report["rows"]}
    assert [row["key"] for row in report["rows"]] == ROWS
    table = [line for line in stdout.splitlines() if line.startswith("| ")]
    for key in ROWS:
        row = rows[key]
        assert len(row["statements_each_request"]) == COUNTED_REQUESTS
        assert isinstance(row["statements"], int) and row["statements"] >= 0
        assert any(line.startswith(f"| {row['title']} |") for line in table), key
        assert (row["budget"] is None) == (key in REFERENCE_ROWS)
    # The reference rows that read the database do; the session-only ones send nothing.
    assert rows["limit-json"]["statements"] == rows["limit-jinja"]["statements"] == 1
    assert rows["hello"]["statements"] == rows["flask-session-defaults"]["statements"] == 0

    # Its scratch database and its Redis keys are gone.
    run_prefix = f"dealdesk-routebench:{process.pid}_"
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{run_prefix}*", count=500)) == []
    finally:
        client.close()
    url = make_url(postgres_url)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database")
            names = [name for (name,) in cursor.fetchall()]
        assert [name for name in names if name.startswith(f"dealdesk_routebench_{process.pid}_")] == []
    finally:
        conn.close()
