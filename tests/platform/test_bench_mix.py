"""The browsing mix (bench/mix.py) end to end, small: every click answers for a signed-in user.

A cluster of its own (``mix-test``: its own Redis, a database ``dealdesk_mix_test`` on the
machine's PostgreSQL), gunicorn with the operator's ``gunicorn.conf.py`` on sync workers,
4 users clicking for 2 s after the capacity step. Checks that the plumbing works (every
route of the mix measured, no error status); it times nothing, so a busy machine cannot
fail it. About 30 s; not in ``make test`` (run by hand with ``-m cluster``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import procs
from bench.mix import MIX, SERVERS, Plan, run
from tests.support.stacks import require_server

pytestmark = pytest.mark.cluster


def test_every_click_of_the_mix_answers() -> None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) or shutil.which("wrk") is None:
        require_server("nginx and wrk", "not installed (bash bench/install-tools.sh installs them)")
    if not procs.port_open(5432):
        require_server("PostgreSQL", "nothing listens on 127.0.0.1:5432")
    sync = next(server for server in SERVERS if server.name == "sync")
    report = run(
        Plan(steps=(4,), duration=2.0, warmup=0.5, think=(0.1, 0.3)), lambda *_: None, (sync,), name="mix-test"
    )
    steps = report["servers"]["sync"]["steps"]
    assert [step["step"] for step in steps] == ["capacity", "think"]
    capacity = steps[0]
    assert set(capacity["routes"]) == {route for route, _ in MIX}, capacity["routes"]
    assert all(step["all"]["errors"] == 0 for step in steps), [step["statuses"] for step in steps]
    assert all(step["all"]["requests"] > 0 for step in steps)
