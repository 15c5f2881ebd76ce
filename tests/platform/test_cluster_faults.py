"""The fault run (bench/faults.py) as a test: 60 s of load through nginx while things break.

A cluster of its own on loopback (two gunicorn instances behind nginx, its own Redis
and its own PostgreSQL on spare ports, the scheduler); 50 simulated users select and
read while Redis is stopped for 10 s, PostgreSQL is restarted, PostgreSQL is frozen
(SIGSTOP) for 8 s, Redis runs out of memory for 8 s and an instance is SIGKILLed; four
browsers are signed out from another browser meanwhile. Passes when every check of the
run passes (bench/faults.py lists them): only 503s during a fault and never a 500, the
health check unhealthy within 2 s and service back within 5 s, nginx routing around the
dead instance, nobody signed out but the revoked browsers, which all are, and every
user's session, ``users.last_deal_id`` and last successful selection agree.

About two minutes. ``make test`` runs it alone, after the other tests (its promises are
timed); ``make faults`` runs the same plan and prints the counts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.faults import Plan, run_faults
from bench.faults_report import render
from tests.support.stacks import require_server

pytestmark = pytest.mark.cluster


def require_cluster_tools() -> None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        require_server("nginx", "not installed (bash bench/install-tools.sh installs Debian's nginx)")
    if not Path("/usr/lib/postgresql/15/bin/initdb").exists():
        require_server("PostgreSQL binaries", "/usr/lib/postgresql/15/bin/initdb not found")
    if shutil.which("redis-server") is None:
        require_server("redis-server", "not installed")
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require_server("PostgreSQL", "no postgres user to run initdb as (it refuses to run as root)")


def test_faults_under_load_lose_no_selection(capsys: pytest.CaptureFixture[str]) -> None:
    require_cluster_tools()
    report = run_faults(Plan(users=50, load_seconds=60))
    with capsys.disabled():
        print("\n" + render(report))
    assert report["passed"], render(report)
