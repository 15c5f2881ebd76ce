"""Faults under load: Redis stopped and out of memory, PostgreSQL restarted and frozen, an instance killed.

A cluster of its own (``bench.cluster``: two DealDesk instances behind nginx, its own
Redis with an append-only file, its own PostgreSQL made with initdb so restarting it
touches nobody else, the scheduler). 50 simulated users, each a thread with its own
cookie jar, select a deal and read the current deal in a loop. A user whose selection
fails retries the same selection until it succeeds (selecting is idempotent), as a
person pressing the button again would. Meanwhile, on the plan's clock:

* Redis is stopped for 10 s, then started: only 503s while it is down (no 500s), the
  health check says unhealthy within 2 s, full service within 5 s of its return;
* PostgreSQL is restarted: no errors for requests sent once it is back;
* PostgreSQL is frozen (SIGSTOP to the postmaster and every backend, as a network
  partition looks) for 8 s, then resumed: 503s, never a hang or a 500, the health check
  unhealthy within 2 s and healthy within 5 s of the resume;
* Redis runs out of memory (``maxmemory`` set to what it uses, so writes get ``OOM
  command not allowed``) for 8 s, then the limit is lifted: 503s, not 500s;
* one DealDesk instance is killed with SIGKILL, then started again: nginx routes
  around it, and nobody is signed out (no 401 at any time).

No 500 at any time, and no 503 outside a fault and the 5 s after it.

Four users also sign in a second browser and sign it out from the first one (``DELETE /api/sessions/<id>``),
one shortly after each fault starts and one with nothing failing, retrying until the app takes it. At the end
every such browser must be signed out: no session outlives a revocation, whatever failed meanwhile.

At the end, for every user: the session's current deal (``GET /api/deals/current``)
== ``users.last_deal_id`` == the last selection that user saw succeed.

    .venv/bin/python -m bench.faults [--seconds 60] [--users 50] [--pgbouncer] [--worker-class sync|gthread]

``--pgbouncer``: the instances and the scheduler reach PostgreSQL through a pgbouncer of the
cluster's own in transaction pooling mode (``PgBouncerCluster``; ``DATABASE_POOLER=pgbouncer``),
with fewer server connections than the app has client connections; the same plan, the same checks.
``--worker-class``: the instances' gunicorn worker class instead of ``gunicorn.conf.py``'s (``gthread``),
to compare how each rides out the same faults.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from sqlalchemy import create_engine, text

from bench import procs
from bench.cluster import Cluster, ClusterSpec
from bench.faults_report import analyse, render, render_markdown
from bench.pgbouncer import pgbouncer_argv, pgbouncer_binary, url_through, write_config
from bench.report import write_block
from bench.seed import BenchUser, load_bench_users
from web.config import normalize_database_url
from web.demo import DEMO_PASSWORD

REQUEST_TIMEOUT = 10.0
# Browsers signed out from another browser during the faults (one per fault, one with none).
REVOCATIONS = 4
SETTLE_SECONDS = 30.0
# --pgbouncer: server connections in the pool, fewer than the app's busy client connections
# (2 instances x 2 workers x 4 threads, the scheduler, the health checks), so they are shared.
PGBOUNCER_POOL_SIZE = 8


@dataclass
class Plan:
    """When each fault happens, in seconds from the start of the load."""

    users: int = 50
    load_seconds: float = 60.0
    redis_stop_at: float = 3.0
    redis_down_seconds: float = 10.0
    postgres_restart_at: float = 18.0
    postgres_down_seconds: float = 3.0
    postgres_freeze_at: float = 25.0
    postgres_frozen_seconds: float = 8.0
    redis_oom_at: float = 38.0
    redis_oom_seconds: float = 8.0
    kill_at: float = 51.0
    instance_down_seconds: float = 5.0
    think_seconds: float = 0.05


@dataclass(frozen=True)
class Call:
    user: int
    kind: str  # "select" | "read" | "health" | "settle" | "final"
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    deal: int | None = None  # asked for (select) or answered (read)


class Clock:
    def __init__(self) -> None:
        self.zero = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.zero


@dataclass
class Recorder:
    clock: Clock
    calls: list[Call] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def event(self, name: str) -> None:
        self.events[name] = self.clock.now()


class SimUser:
    """One person in one browser: signs in, then selects and reads until told to stop."""

    def __init__(self, index: int, base_url: str, account: BenchUser, recorder: Recorder, seed: int) -> None:
        self.index = index
        self.base_url = base_url
        self.account = account
        self.recorder = recorder
        self.http = requests.Session()
        self.rng = random.Random(seed)
        self.csrf = ""
        self.last_ok: int | None = None  # the last selection this user saw succeed
        self.pending: int | None = None  # a selection that failed and is being retried
        self.stale_reads = 0
        self.final_deal: int | None = None

    def sign_in(self) -> None:
        self.csrf = self.http.get(f"{self.base_url}/api/csrf", timeout=30).json()["csrf_token"]
        response = self.http.post(
            f"{self.base_url}/api/auth/login",
            json={"email": self.account.email, "password": DEMO_PASSWORD},
            headers={"X-CSRFToken": self.csrf},
            timeout=30,
        )
        response.raise_for_status()
        deal = response.json()["current_deal"]
        self.last_ok = deal["id"] if deal else None
        # Sign-in replaced the CSRF token: fetch the new one.
        self.csrf = self.http.get(f"{self.base_url}/api/csrf", timeout=30).json()["csrf_token"]

    def _call(self, kind: str, method: str, path: str, deal: int | None = None) -> tuple[int, dict[str, Any] | None]:
        started = self.recorder.clock.now()
        headers = {"X-CSRFToken": self.csrf} if method == "POST" else {}
        try:
            response = self.http.request(method, self.base_url + path, headers=headers, timeout=REQUEST_TIMEOUT)
            status = response.status_code
            body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
        except (requests.RequestException, ValueError):
            status, body = 0, None
        answered = deal
        if kind != "select" and status == 200 and body is not None:
            current = body.get("current_deal")
            answered = current["id"] if current else None
        self.recorder.add(Call(self.index, kind, started, self.recorder.clock.now(), status, answered))
        return status, body

    def select(self, deal: int, kind: str = "select") -> bool:
        status, body = self._call(kind, "POST", f"/api/deals/{deal}/select", deal)
        if status == 200 and body is not None and body["current_deal"]["id"] == deal:
            self.last_ok, self.pending = deal, None
            return True
        self.pending = deal
        return False

    def read(self, kind: str = "read") -> int | None:
        status, body = self._call(kind, "GET", "/api/deals/current")
        if status != 200 or body is None:
            return None
        current = body["current_deal"]
        deal = current["id"] if current else None
        if self.pending is None and deal != self.last_ok:
            self.stale_reads += 1
        return deal

    def run(self, stop: threading.Event, think: float) -> None:
        while not stop.is_set():
            if self.pending is not None:
                target = self.pending
            else:
                target = self.rng.choice([d for d in self.account.deal_ids if d != self.last_ok])
            self.select(target)
            self.read()
            stop.wait(think)

    def settle(self, deadline: float) -> None:
        """After the load: retry a selection that never succeeded, then read the final state."""
        while self.pending is not None and time.monotonic() < deadline:
            if not self.select(self.pending, kind="settle"):
                time.sleep(0.2)
        status, body = self._call("final", "GET", "/api/deals/current")
        if status == 200 and body is not None:
            self.final_deal = body["current_deal"]["id"] if body["current_deal"] else None
        else:
            self.final_deal = -status  # recorded as a mismatch with its status


class RevokedBrowser:
    """A second browser of a simulated user's account, which that user signs out from the first one during a fault.

    The revocation is retried until the app takes it (2xx) or says the session is already gone (404), as a
    person would press the button again; at the end this browser must be signed out (401), whatever failed.
    """

    def __init__(self, owner: SimUser) -> None:
        self.owner = owner
        self.http = requests.Session()
        self.public_id = ""
        self.revoked_at: float | None = None
        self.attempts = 0

    def sign_in(self) -> None:
        base = self.owner.base_url
        csrf = self.http.get(f"{base}/api/csrf", timeout=30).json()["csrf_token"]
        self.http.post(
            f"{base}/api/auth/login",
            json={"email": self.owner.account.email, "password": DEMO_PASSWORD},
            headers={"X-CSRFToken": csrf},
            timeout=30,
        ).raise_for_status()
        sessions = self.http.get(f"{base}/api/sessions", timeout=30).json()["sessions"]
        self.public_id = next(row["id"] for row in sessions if row["current"])

    def revoke(self, clock: Clock, deadline: float) -> None:
        """From the owner's browser; until taken or the deadline (monotonic)."""
        owner = requests.Session()  # the owner's cookies, not its Session object: that one is busy in its thread
        owner.cookies.update(self.owner.http.cookies)
        while time.monotonic() < deadline:
            self.attempts += 1
            try:
                status = owner.delete(
                    f"{self.owner.base_url}/api/sessions/{self.public_id}",
                    headers={"X-CSRFToken": self.owner.csrf},
                    timeout=REQUEST_TIMEOUT,
                ).status_code
            except requests.RequestException:
                status = 0
            if 200 <= status < 300 or status == 404:
                self.revoked_at = clock.now()
                break
            time.sleep(0.25)
        owner.close()

    def still_signed_in(self) -> bool:
        try:
            return self.http.get(f"{self.owner.base_url}/api/me", timeout=REQUEST_TIMEOUT).status_code != 401
        except requests.RequestException:
            return True  # no answer proves nothing: counted as outliving


def revoke_during_faults(browsers: list[RevokedBrowser], plan: Plan, recorder: Recorder, stop: threading.Event) -> None:
    """One revocation shortly after each fault starts (and one with nothing failing), each retried until taken."""
    moments = [
        plan.redis_stop_at + 1.0,
        plan.postgres_freeze_at + 1.0,
        plan.redis_oom_at + 1.0,
        plan.postgres_restart_at + plan.postgres_down_seconds + 2.0,
    ]
    workers = []
    for browser, moment in zip(browsers, moments, strict=False):
        stop.wait(max(0.0, moment - recorder.clock.now()))
        deadline = time.monotonic() + plan.load_seconds + SETTLE_SECONDS
        worker = threading.Thread(target=browser.revoke, args=(recorder.clock, deadline), daemon=True)
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join(timeout=plan.load_seconds + SETTLE_SECONDS)


def poll_health(base_url: str, recorder: Recorder, stop: threading.Event) -> None:
    """The health check through nginx every 100 ms, as a load balancer would poll it."""
    with requests.Session() as http:
        while not stop.is_set():
            started = recorder.clock.now()
            try:
                status = http.get(f"{base_url}/api/health/session", timeout=3).status_code
            except requests.RequestException:
                status = 0
            recorder.add(Call(-1, "health", started, recorder.clock.now(), status))
            stop.wait(0.1)


def inject_faults(cluster: Cluster, plan: Plan, recorder: Recorder, stop: threading.Event) -> None:
    """The plan, on the load's clock."""

    def at(seconds: float) -> None:
        stop.wait(max(0.0, seconds - recorder.clock.now()))

    at(plan.redis_stop_at)
    recorder.event("redis_stopping")
    cluster.stop_redis()  # returns once Redis's port refuses connections, so the window holds no live Redis
    recorder.event("redis_stopped")
    at(plan.redis_stop_at + plan.redis_down_seconds)
    recorder.event("redis_starting")  # the end of the outage: from here on a request may find Redis up
    cluster.start_redis()  # returns once Redis answers PING with PONG (not -LOADING)
    recorder.event("redis_started")
    at(plan.postgres_restart_at)
    recorder.event("postgres_stopping")
    cluster.stop_postgres()
    recorder.event("postgres_stopped")
    at(plan.postgres_restart_at + plan.postgres_down_seconds)
    cluster.start_postgres()
    recorder.event("postgres_started")
    at(plan.postgres_freeze_at)
    recorder.event("postgres_freezing")
    try:
        cluster.freeze_postgres()
        recorder.event("postgres_frozen")
        at(plan.postgres_freeze_at + plan.postgres_frozen_seconds)
        recorder.event("postgres_thawing")
    finally:
        cluster.thaw_postgres()  # even when the load is being stopped: nothing stays frozen
    recorder.event("postgres_thawed")
    at(plan.redis_oom_at)
    try:
        cluster.limit_redis_memory()
        recorder.event("redis_oom_started")
        at(plan.redis_oom_at + plan.redis_oom_seconds)
        recorder.event("redis_oom_ending")
    finally:
        cluster.restore_redis_memory()
    recorder.event("redis_oom_ended")
    at(plan.kill_at)
    recorder.event("instance_killing")  # answers to requests cut by the kill come before kill_instance returns
    cluster.kill_instance(2)
    recorder.event("instance_killed")
    at(plan.kill_at + plan.instance_down_seconds)
    cluster.start_instance(2)
    recorder.event("instance_started")


def database_last_deals(cluster: Cluster, user_ids: list[int]) -> dict[int, int | None]:
    engine = create_engine(normalize_database_url(cluster.database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, last_deal_id FROM users WHERE id = ANY(:ids)"), {"ids": user_ids})
            return {row.id: row.last_deal_id for row in rows}
    finally:
        engine.dispose()


class PgBouncerCluster(Cluster):
    """The fault run's cluster with PostgreSQL reached through a pgbouncer of its own in transaction mode.

    Migrations and the seed go to PostgreSQL directly (``create_database`` runs before the
    pgbouncer starts); from then on every DealDesk process of the cluster gets the pgbouncer's
    URL and ``DATABASE_POOLER=pgbouncer``. The pgbouncer is a process of the cluster (stopped
    by pid in ``down``); the faults still restart and freeze PostgreSQL behind it.
    """

    def create_database(self) -> None:
        super().create_database()
        self.start_pgbouncer()

    def start_pgbouncer(self) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError("pgbouncer is not installed: bash scripts/install-pgbouncer.sh")
        port = self.ports.setdefault("pgbouncer", procs.spare_port())
        ini = write_config(
            self.run_dir / "pgbouncer",
            self.database_url,
            port=port,
            pool_size=PGBOUNCER_POOL_SIZE,
            statement_timeout_ms=1000,  # the app's DATABASE_STATEMENT_TIMEOUT_SECONDS default
        )
        popen = self._start("pgbouncer", pgbouncer_argv(binary, ini), port=port)
        procs.wait_for_port(port, 10, popen, "pgbouncer")

    def app_env(self) -> dict[str, str]:
        env = super().app_env()
        if "pgbouncer" in self.procs:
            env.update(
                DATABASE_URL=url_through(self.database_url, self.ports["pgbouncer"]), DATABASE_POOLER="pgbouncer"
            )
        return env


def run_faults(
    plan: Plan, name: str | None = None, *, pgbouncer: bool = False, worker_class: str | None = None
) -> dict[str, Any]:
    """Bring up a cluster, run the plan under load, bring it down; returns the analysed report.

    ``pgbouncer``: the cluster's PostgreSQL behind a pgbouncer in transaction mode (``PgBouncerCluster``).
    ``worker_class``: gunicorn's worker class for the instances (None: gunicorn.conf.py's).
    """
    cluster_class = PgBouncerCluster if pgbouncer else Cluster
    spec = ClusterSpec(
        name=name or f"faults-{os.getpid()}", postgres="own", users=plan.users, worker_class=worker_class
    )
    cluster = cluster_class(spec)
    cluster.up()
    report: dict[str, Any] = {"passed": False}
    try:
        report = _run_on(cluster, plan)
        if pgbouncer:
            report["pgbouncer"] = {"pool_mode": "transaction", "default_pool_size": PGBOUNCER_POOL_SIZE}
        return report
    finally:
        cluster.down()
        if report["passed"]:  # keep the logs and data of a failed run for reading
            shutil.rmtree(cluster.run_dir, ignore_errors=True)
        else:
            (cluster.run_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
            print(f"fault run: logs and report.json kept in {cluster.run_dir}", file=sys.stderr)


def _run_on(cluster: Cluster, plan: Plan) -> dict[str, Any]:
    engine = create_engine(normalize_database_url(cluster.database_url))
    with engine.connect() as conn:
        accounts = load_bench_users(conn, limit=plan.users)
    engine.dispose()
    recorder = Recorder(Clock())
    users = [SimUser(i, cluster.url, account, recorder, seed=i) for i, account in enumerate(accounts)]
    for user in users:
        user.sign_in()
    revoked = [RevokedBrowser(user) for user in users[:REVOCATIONS]]
    for browser in revoked:
        browser.sign_in()
    recorder.clock = Clock()  # the load's clock starts now
    stop_load, stop_faults = threading.Event(), threading.Event()
    threads = [threading.Thread(target=u.run, args=(stop_load, plan.think_seconds), daemon=True) for u in users]
    threads.append(threading.Thread(target=poll_health, args=(cluster.url, recorder, stop_load), daemon=True))
    for thread in threads:
        thread.start()
    fault_error: list[BaseException] = []

    def faults() -> None:
        try:
            inject_faults(cluster, plan, recorder, stop_faults)
        except BaseException as exc:  # reported, and the load still stops on time
            fault_error.append(exc)

    injector = threading.Thread(target=faults, daemon=True)
    injector.start()
    revoker = threading.Thread(target=revoke_during_faults, args=(revoked, plan, recorder, stop_faults), daemon=True)
    revoker.start()
    time.sleep(max(0.0, plan.load_seconds - recorder.clock.now()))
    injector.join(timeout=120)
    recorder.event("load_stopped")
    stop_load.set()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)
    deadline = time.monotonic() + SETTLE_SECONDS
    for user in users:
        user.settle(deadline)
    revoker.join(timeout=SETTLE_SECONDS)
    in_database = database_last_deals(cluster, [u.account.id for u in users])
    report = analyse(plan, recorder.calls, recorder.events, users, in_database)
    report["revocations"] = {
        "made": len(revoked),
        "taken": sum(1 for b in revoked if b.revoked_at is not None),
        "attempts": sum(b.attempts for b in revoked),
        "outlived": sum(1 for b in revoked if b.still_signed_in()),
    }
    report["checks"]["no_session_outlived_a_revocation"] = report["revocations"]["outlived"] == 0 and report[
        "revocations"
    ]["taken"] == len(revoked)
    report["passed"] = all(report["checks"].values())
    report["fault_injection_error"] = repr(fault_error[0]) if fault_error else None
    report["scheduler"] = cluster.scheduler_note
    report["processes_alive_at_end"] = {name: info["alive"] for name, info in cluster.status().items()}
    report["plan"] = asdict(plan)
    report["statuses"] = dict(Counter(str(c.status) for c in recorder.calls))
    # Every failed call, for reading the timeline afterwards (the --json file).
    report["failed_calls"] = [asdict(c) for c in recorder.calls if c.status != 200][:2000]
    for user in users:
        user.http.close()
    for browser in revoked:
        browser.http.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of load (the faults fit in 56)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--write-doc", action="store_true", help="put the results into docs/PERFORMANCE.md")
    parser.add_argument(
        "--pgbouncer", action="store_true", help="PostgreSQL behind a pgbouncer in transaction pooling mode"
    )
    parser.add_argument(
        "--worker-class", choices=["sync", "gthread"], help="gunicorn's worker class (default: gunicorn.conf.py's)"
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    plan = Plan(users=args.users, load_seconds=args.seconds)
    report = run_faults(plan, pgbouncer=args.pgbouncer, worker_class=args.worker_class)
    if args.pgbouncer:
        print(f"through PgBouncer: pool_mode=transaction, default_pool_size={PGBOUNCER_POOL_SIZE}")
    if args.worker_class:
        print(f"gunicorn worker class: {args.worker_class}")
    print(render(report))
    if args.write_doc:
        command = " ".join([".venv/bin/python -m bench.faults", *(argv if argv is not None else sys.argv[1:])])
        write_block("faults", render_markdown(report, command, (load_before, os.getloadavg()[0])))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
