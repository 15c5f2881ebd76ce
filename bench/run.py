"""The benchmark: DealDesk against bare Flask-Session, every target in ONE run.

Every target is served by gunicorn with the same settings (``bench/gunicorn_bench.py``:
2 sync workers) and loaded by the same wrk (2 threads x 32 connections, 10 s, after a
3 s warm-up), one target at a time, with sessions created before the clock starts.
The DealDesk rows use the cluster's own Redis and a PostgreSQL database of their own on
the machine's server; one extra row goes through nginx to the cluster's two instances.

    .venv/bin/python -m bench.run                 # results in bench/results/
    .venv/bin/python -m bench.run --write-doc     # and the table in docs/PERFORMANCE.md
    .venv/bin/python -m bench.run --duration 3 --only dealdesk-redis-warm,fs-redis   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine

from bench import counters, pools, procs
from bench.cluster import Cluster, ClusterSpec, ensure_tools
from bench.procs import LOOPBACK, REPO, VENV_BIN
from bench.report import render_markdown, write_doc
from bench.scratch_databases import recreate_postgres_database
from bench.seed import BenchUser, load_bench_users
from web.config import normalize_database_url

RESULTS_DIR = REPO / "bench" / "results"
LUA = REPO / "bench" / "wrk" / "sessions.lua"
GUNICORN_BENCH_CONF = REPO / "bench" / "gunicorn_bench.py"
BASELINE_APP = "bench.baseline_app:create_app()"
POOL_SIZE = 64
COLD_SESSIONS = 40_000


@dataclass
class Target:
    name: str
    title: str
    app: str  # "dealdesk" | "baseline" | "nginx"
    path: str = "/api/deals/current"
    method: str = "GET"
    env: dict[str, str] = field(default_factory=dict)
    pool: str = "warm"  # "warm" | "cold" | "none"
    connections: int | None = None  # None: the run's (32); 1: the latency of one client on an idle server


TARGETS = [
    Target("hello", "raw WSGI hello (ceiling)", "baseline", env={"BASELINE_VARIANT": "hello"}, pool="none"),
    Target("flask", "bare Flask, no session", "baseline", env={"BASELINE_VARIANT": "flask"}, pool="none"),
    Target("fs-redis", "Flask-Session 0.8, Redis, defaults", "baseline", env={"BASELINE_VARIANT": "redis"}),
    Target(
        "fs-redis-readonly",
        "Flask-Session 0.8, Redis, SESSION_REFRESH_EACH_REQUEST=False",
        "baseline",
        env={"BASELINE_VARIANT": "redis-readonly"},
    ),
    Target("fs-sql-postgresql", "Flask-Session 0.8, SQLAlchemy on PostgreSQL", "baseline", env={"_SQL": "postgresql"}),
    Target("fs-sql-sqlite", "Flask-Session 0.8, SQLAlchemy on SQLite", "baseline", env={"_SQL": "sqlite"}),
    Target("dealdesk-redis-warm", "DealDesk warm GET /api/deals/current, Redis sessions", "dealdesk"),
    Target(
        "dealdesk-redis-warm-flask",
        "DealDesk warm GET /api/deals/current, Redis sessions, fast path off (every request through Flask)",
        "dealdesk",
        env={"CURRENT_DEAL_FAST_PATH": "0"},
    ),
    Target(
        "dealdesk-sql-warm",
        "DealDesk warm GET /api/deals/current, SQL sessions on PostgreSQL",
        "dealdesk",
        env={"SESSION_BACKEND": "sqlalchemy"},
    ),
    Target(
        "dealdesk-redis-select",
        "DealDesk POST /api/deals/<id>/select, Redis",
        "dealdesk",
        "/api/deals/{deal}/select",
        method="POST",
    ),
    Target("dealdesk-redis-cold", "DealDesk cold restore (first GET of a new session), Redis", "dealdesk", pool="cold"),
    Target(
        "dealdesk-health", "DealDesk GET /api/health/session, Redis", "dealdesk", "/api/health/session", pool="none"
    ),
    Target(
        "dealdesk-redis-select-c1",
        "DealDesk POST /api/deals/<id>/select, Redis, 1 connection",
        "dealdesk",
        "/api/deals/{deal}/select",
        method="POST",
        connections=1,
    ),
    Target(
        "dealdesk-health-c1",
        "DealDesk GET /api/health/session, Redis, 1 connection",
        "dealdesk",
        "/api/health/session",
        pool="none",
        connections=1,
    ),
    Target("nginx-dealdesk-redis-warm", "DealDesk warm GET through nginx, 2 instances x 2 workers", "nginx"),
]
TARGETS_BY_NAME = {target.name: target for target in TARGETS}


@dataclass
class Load:
    threads: int = 2
    connections: int = 32
    duration: float = 10.0
    warmup: float = 3.0


def wrk(
    url: str, target: Target, load: Load, duration: float, pool_file: Path | None, *, tally: bool = False
) -> dict[str, Any]:
    """One wrk run; the Lua script prints its summary as JSON (with a count per status when ``tally``)."""
    connections = target.connections or load.connections
    threads = min(load.threads, connections)
    env = {
        "WRK_TALLY": "1" if tally else "0",
        "WRK_SESSIONS": str(pool_file or ""),
        "WRK_METHOD": target.method,
        "WRK_PATH": target.path,
        "WRK_ONCE": "1" if target.pool == "cold" else "0",
        "WRK_THREADS": str(threads),
    }
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s"]
    argv += ["-s", str(LUA), url]
    result = subprocess.run(
        argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=duration + 60, check=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON ") :])
    raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "req_per_s": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "errors": errors,
        "error_detail": raw["errors"],
        "sessions_reused": raw["sessions_reused"],
    }


def merge_tallies(raw: dict[str, Any]) -> dict[str, int]:
    """The warm-up's responses by status, all wrk threads together."""
    total: dict[str, int] = {}
    for tally in raw.get("statuses", []):
        for status, count in tally.items():
            total[status] = total.get(status, 0) + count
    return total


class Bench:
    """Runs the targets against one cluster (Redis, PostgreSQL, nginx) and the baseline stores."""

    def __init__(self, load: Load, cluster: Cluster) -> None:
        self.load = load
        self.cluster = cluster
        self.work = cluster.run_dir / "bench"
        self.users: list[BenchUser] = []
        self._pools: dict[str, list[pools.PooledSession]] = {}
        self.baseline_pg_url = cluster.database_url + "_baseline"

    def prepare(self) -> None:
        engine = create_engine(normalize_database_url(self.cluster.database_url))
        with engine.connect() as conn:
            self.users = load_bench_users(conn, limit=POOL_SIZE)
        engine.dispose()
        recreate_postgres_database(self.cluster.admin_url, self.baseline_pg_url.rsplit("/", 1)[1])
        self.work.mkdir(parents=True, exist_ok=True)
        for url in (self.baseline_pg_url, self.sqlite_url):
            procs.run(
                [str(VENV_BIN / "python"), "-m", "bench.baseline_app", "create-table"],
                env={"BASELINE_DATABASE_URL": url},
            )

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.work / 'baseline.db'}"

    def target_env(self, target: Target) -> dict[str, str]:
        if target.app == "dealdesk":
            return {**self.cluster.app_env(), **target.env}
        env = {"BASELINE_REDIS_URL": self.cluster.redis_url, **target.env}
        sql = env.pop("_SQL", None)
        if sql is not None:
            env["BASELINE_VARIANT"] = "sqlalchemy"
            env["BASELINE_DATABASE_URL"] = self.baseline_pg_url if sql == "postgresql" else self.sqlite_url
        return env

    def serve(self, target: Target) -> tuple[procs.Proc, str]:
        port = procs.spare_port()
        app = "wsgi:app" if target.app == "dealdesk" else BASELINE_APP
        argv = [str(VENV_BIN / "gunicorn"), "--config", str(GUNICORN_BENCH_CONF), "--bind", f"{LOOPBACK}:{port}", app]
        proc, popen = procs.start(
            target.name, argv, log=self.work / f"{target.name}.log", env=self.target_env(target), port=port
        )
        procs.wait_for_port(port, 60, popen, target.name)
        self._popen = popen
        return proc, f"http://{LOOPBACK}:{port}"

    def pool(self, target: Target, url: str) -> Path | None:
        if target.pool == "none":
            return None
        # Sessions live in the store, not in the server: DealDesk targets on the same store share
        # one set of sign-ins (argon2 makes each slow); a baseline's sessions are its own.
        key = target.name if target.app == "baseline" else self.target_env(target).get("SESSION_BACKEND", "")
        if key not in self._pools:
            make = pools.baseline_pool if target.app == "baseline" else pools.dealdesk_pool
            self._pools[key] = make(url, self.users)
        sessions = self._pools[key]
        if target.pool == "cold":
            sessions = pools.cold_pool_redis(self.cluster.redis_url, sessions, COLD_SESSIONS)
        return pools.write_pool(self.work / f"{target.name}.sessions", sessions)

    def measure(self, target: Target) -> dict[str, Any]:
        if target.app == "nginx":
            return self._measure_at(target, self.cluster.url)
        proc, url = self.serve(target)
        try:
            return self._measure_at(target, url)
        finally:
            procs.stop(proc.pid)
            self._popen.poll()

    def store_counters(self, target: Target) -> counters.Counters:
        """The stores' counters; the PostgreSQL ones for the database this target uses, if any."""
        if target.app in ("dealdesk", "nginx"):
            database: str | None = self.cluster.spec.database
        elif target.env.get("_SQL") == "postgresql":
            database = self.baseline_pg_url.rsplit("/", 1)[1]
        else:
            database = None
        return counters.read_counters(self.cluster.redis_url, self.cluster.admin_url, database)

    def _measure_at(self, target: Target, url: str) -> dict[str, Any]:
        check = probe(url, target)
        if check is not None:
            return {"skipped": check}
        if target.pool == "cold":
            # The warm-up runs on warm sessions, so no cold session is spent before the clock starts.
            warm = Target(**{**target.__dict__, "pool": "warm"})
            warmup = wrk(url, warm, self.load, self.load.warmup, self.pool(warm, url), tally=True)
            pool_file = self.pool(target, url)
        else:
            pool_file = self.pool(target, url)
            warmup = wrk(url, target, self.load, self.load.warmup, pool_file, tally=True)
        counters.settle()
        before = self.store_counters(target)
        started = time.time()
        raw = wrk(url, target, self.load, self.load.duration, pool_file)
        counters.settle()
        result = summarize(raw)
        result.update(counters.per_request(before, self.store_counters(target), raw["requests"]))
        result["warmup_statuses"] = merge_tallies(warmup)
        result["connections"] = target.connections or self.load.connections
        result["loadavg_after"] = os.getloadavg()[0]
        result["started_at"] = datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds")
        return result


def probe(url: str, target: Target) -> str | None:
    """None when the target answers; otherwise why it is skipped (e.g. an endpoint not built yet).

    A few requests first, so each fresh worker has connected to its stores before the warm-up.
    """
    if target.app != "baseline":
        for _ in range(4):
            requests.get(url + "/api/csrf", timeout=120)
    if target.path == "/api/health/session":
        try:
            response = requests.get(url + target.path, timeout=120)
        except requests.RequestException as exc:
            return f"GET /api/health/session did not answer: {exc}"
        if response.status_code == 404:
            return "GET /api/health/session does not exist in this checkout"
    return None


def environment(load: Load) -> dict[str, Any]:
    """What the figures depend on, recorded beside them."""
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": wrk_version[0] if wrk_version else "?",
        "gunicorn": "2 sync workers (bench/gunicorn_bench.py)",
        "load": {
            "threads": load.threads,
            "connections": load.connections,
            "duration_s": load.duration,
            "warmup_s": load.warmup,
        },
    }


def median_round(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median requests per second, with every round's figure beside it."""
    measured = [r for r in results if "req_per_s" in r]
    if not measured:
        return results[0]
    chosen = sorted(measured, key=lambda r: r["req_per_s"])[(len(measured) - 1) // 2]
    return {**chosen, "req_per_s_rounds": [r["req_per_s"] for r in measured]}


def run(names: list[str], load: Load, rounds: int, on_result: Callable[[str, dict[str, Any]], None]) -> dict[str, Any]:
    """Every target, ``rounds`` times over (the machine's load drifts: the median round is reported)."""
    ensure_tools()
    cluster = Cluster(ClusterSpec(name="bench", instances=2, workers=2, postgres="local", users=POOL_SIZE * 2))
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_before": os.getloadavg(),
        "environment": environment(load),
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "rounds": [],
        "targets": {},
    }
    cluster.up()
    try:
        report["scheduler"] = cluster.scheduler_note
        bench = Bench(load, cluster)
        bench.prepare()
        for _ in range(rounds):
            results: dict[str, Any] = {}
            report["rounds"].append(results)
            for name in names:
                target = TARGETS_BY_NAME[name]
                try:
                    measured = bench.measure(target)
                except (OSError, RuntimeError, requests.RequestException, subprocess.SubprocessError) as exc:
                    measured = {"skipped": f"failed: {type(exc).__name__}: {exc}"}  # the other targets still run
                results[name] = {"title": target.title, **measured}
                on_result(name, results[name])
    finally:
        cluster.down()
    for name in names:
        measured = [results[name] for results in report["rounds"] if name in results]
        if measured:
            report["targets"][name] = median_round(measured)
    report["loadavg_after"] = os.getloadavg()
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per target")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated target names (default: all)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every target this many times; report the median")
    parser.add_argument("--write-doc", action="store_true", help="put the table into docs/PERFORMANCE.md")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name] or [target.name for target in TARGETS]
    unknown = [name for name in names if name not in TARGETS_BY_NAME]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}; known: {', '.join(TARGETS_BY_NAME)}")
    load = Load(threads=args.threads, connections=args.connections, duration=args.duration, warmup=args.warmup)

    def show(name: str, result: dict[str, Any]) -> None:
        if "skipped" in result:
            print(f"{name:28} skipped: {result['skipped']}", flush=True)
            return
        print(
            f"{name:28} {result['req_per_s']:>9.1f} req/s  p50 {result['p50_ms']:>7.2f} ms  "
            f"p99 {result['p99_ms']:>7.2f} ms  errors {result['errors']}  warm-up {result['warmup_statuses']}",
            flush=True,
        )

    report = run(names, load, args.rounds, show)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"run-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(REPO)}")
    print(render_markdown(report, path.relative_to(REPO)))
    if args.write_doc:
        write_doc(report, path.relative_to(REPO))
        print("docs/PERFORMANCE.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
