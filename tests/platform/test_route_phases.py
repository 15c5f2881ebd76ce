"""Where a route's CPU goes (``python -m bench.route_phases``): it runs end to end on PostgreSQL + Redis
sessions, and each route's phases add up to its total and fall where the route does its work.

Tiny runs, no timing asserted: which phases are zero and which are not is what could go wrong
(a wrapper that misses its method, or time charged twice when one phase runs inside another).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.procs import REPO
from bench.route_phases import COLUMNS, PhaseClock

ROUTES = ["me", "deal", "home"]


def test_phases_are_exclusive_of_the_phases_they_call() -> None:
    clock = PhaseClock()

    def inner() -> None:
        sum(range(200_000))

    def outer() -> None:
        sum(range(200_000))
        timed_inner()

    timed_inner = clock.timed("inner", inner)
    clock.timed("outer", outer)()
    # Each did the same work: the outer phase is not charged with the inner one's.
    assert clock.seconds["outer"] == pytest.approx(clock.seconds["inner"], rel=0.5)


def test_route_phases_add_up_and_fall_where_the_work_is(postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    report_path = tmp_path / "phases.json"
    argv = ["--routes", ",".join(ROUTES), "--requests", "5", "--database-url", postgres_url, "--redis-url", redis_url]
    process = subprocess.run(
        [sys.executable, "-m", "bench.route_phases", *argv, "--json", str(report_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    rows = json.loads(report_path.read_text())["rows"]
    assert list(rows) == ROUTES
    for key, row in rows.items():
        assert sum(row[column] for column in COLUMNS) == pytest.approx(row["total"]), key
        assert row["open_session"] > 0 and row["flask"] > 0, key
    # A warm API read sends no SQL and renders nothing; a deal's API sends its statement; the home page renders.
    assert rows["me"]["sql"] == rows["me"]["jinja"] == 0
    assert rows["deal"]["sql"] > 0 and rows["deal"]["jinja"] == 0
    assert rows["home"]["sql"] > 0 and rows["home"]["jinja"] > 0
    assert sum(1 for line in process.stdout.splitlines() if line.startswith("| `")) == len(ROUTES)
