"""The browsing mix: simulated signed-in people clicking through DealDesk, through gunicorn.

Each simulated user has its own signed-in session (Redis sessions, PostgreSQL data: the
bench cluster's own Redis and a database of its own on the machine's PostgreSQL) and, in a
loop, makes one click drawn from ``MIX``, then thinks for a uniform 1-3 s. The users are
stepped (10, 20, 40, 80, 160, 320, 640): the answer is the largest step whose p99 over all clicks
stays under 200 ms. One "capacity" step first, a few users with no think time, gives the
requests per second the instance serves flat out. Each step runs once on gunicorn's
``sync`` workers and once on ``gthread`` (threads=4), 2 workers each, then bare Flask
(``bench/baseline_app.py``, variant ``flask``) serves the same clicks as one constant GET:
the floor of server + load generator.

The load generator is Python (a thread and a ``requests.Session`` per user), not wrk:
wrk keeps one latency histogram per run, so per-route percentiles need one run per
route, which is not a mix; and a person's think time is a closed loop with pauses,
which Python threads do cheaply (a sleeping thread costs no CPU). At 160 users and a
2 s mean think time the generator sends ~80 requests/s, a few percent of one core. The
capacity step is the exception: with no think time the generator shares the 2 cores
with gunicorn, so its req/s is a lower bound (the same for every server in the run).

    .venv/bin/python -m bench.mix                # full: ~7 min
    .venv/bin/python -m bench.mix --quick        # smoke: one step of 20 users, ~30 s of load
    .venv/bin/python -m bench.mix --write-doc    # and the table in docs/PERFORMANCE.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import create_engine

from bench import pools, procs
from bench.cluster import Cluster, ClusterSpec
from bench.procs import LOOPBACK, REPO, VENV_BIN
from bench.report import write_block
from bench.seed import load_bench_users
from web.config import normalize_database_url

RESULTS_DIR = REPO / "bench" / "results"
GUNICORN_CONF = REPO / "gunicorn.conf.py"
GUNICORN_BENCH_CONF = REPO / "bench" / "gunicorn_bench.py"
P99_LIMIT_MS = 200.0
STEPS = (10, 20, 40, 80, 160, 320, 640)
THINK_S = (1.0, 3.0)  # a person reads the page before the next click
CAPACITY_USERS = 8  # no think time: enough to keep 2 workers x 4 threads busy

# (route, weight in %) — what a person does in a session of deal work: mostly reading a deal
# (30) and moving between the home page (20) and the list (20) to find the next one; switching
# the current deal (15) is the app's core gesture; writing a note (10) is rarer than reading;
# the sessions page (5) is a visit to settings now and then.
MIX: tuple[tuple[str, int], ...] = (
    ("GET /deals/<id>", 30),
    ("GET /", 20),
    ("GET /deals", 20),
    ("POST /api/deals/<id>/select", 15),
    ("POST /api/deals/<id>/notes", 10),
    ("GET /settings/sessions", 5),
)
BASELINE_ROUTE = "GET /api/deals/current (bare Flask)"


@dataclass(frozen=True)
class Server:
    name: str
    title: str
    app: str  # "dealdesk" | "baseline"
    worker_class: str
    threads: int


SERVERS = (
    Server("sync", "DealDesk, gunicorn 2 sync workers", "dealdesk", "sync", 1),
    Server("gthread", "DealDesk, gunicorn 2 gthread workers x 4 threads", "dealdesk", "gthread", 4),
    Server("flask", "bare Flask (no session, no database), 2 sync workers", "baseline", "sync", 1),
)


@dataclass
class Plan:
    steps: tuple[int, ...] = STEPS
    duration: float = 15.0
    warmup: float = 3.0
    think: tuple[float, float] = THINK_S
    seed: int = 13


@dataclass
class Sample:
    route: str
    started: float
    seconds: float
    status: int  # 0: no answer (connection error or timeout)


@dataclass
class UserSession:
    sid: str
    csrf: str
    deal_ids: tuple[int, ...]


@dataclass
class Step:
    users: int
    think: tuple[float, float]
    samples: list[Sample] = field(default_factory=list)
    generator_cpu: float = 0.0


def click(http: requests.Session, base: str, route: str, user: UserSession, rng: random.Random) -> int:
    """One click of ``route`` as the signed-in ``user``; the status (redirects not followed)."""
    deal = rng.choice(user.deal_ids)
    headers = {"X-CSRFToken": user.csrf}
    kw: dict[str, Any] = {"timeout": 30, "allow_redirects": False}
    if route == "GET /deals/<id>":
        response = http.get(f"{base}/deals/{deal}", **kw)
    elif route == "GET /":
        response = http.get(f"{base}/", **kw)
    elif route == "GET /deals":
        response = http.get(f"{base}/deals", **kw)
    elif route == "POST /api/deals/<id>/select":
        response = http.post(f"{base}/api/deals/{deal}/select", headers=headers, **kw)
    elif route == "POST /api/deals/<id>/notes":
        response = http.post(f"{base}/api/deals/{deal}/notes", json={"body": "bench note"}, headers=headers, **kw)
    elif route == "GET /settings/sessions":
        response = http.get(f"{base}/settings/sessions", **kw)
    elif route == BASELINE_ROUTE:
        response = http.get(f"{base}/api/deals/current", **kw)
    else:
        raise ValueError(route)
    response.content  # noqa: B018 - the body is part of the answer's time
    return response.status_code


def simulate(base: str, sessions: list[UserSession], routes: tuple[tuple[str, int], ...], step: Step, plan: Plan):
    """``step.users`` people for warm-up + duration; fills ``step.samples`` with the measured clicks."""
    names = [name for name, _ in routes]
    weights = [weight for _, weight in routes]
    start = time.monotonic()
    measure_from = start + plan.warmup
    stop_at = measure_from + plan.duration
    lock = threading.Lock()

    def person(index: int) -> None:
        rng = random.Random(plan.seed * 1000 + index)
        user = sessions[index % len(sessions)]
        with requests.Session() as http:
            http.cookies.set(pools.DEALDESK_COOKIE, user.sid, domain=LOOPBACK, path="/")
            # Spread the first clicks over a think time, so the users do not march in step.
            time.sleep(rng.uniform(0, step.think[1]))
            while True:
                began = time.monotonic()
                if began >= stop_at:
                    return
                route = rng.choices(names, weights)[0]
                try:
                    status = click(http, base, route, user, rng)
                except requests.RequestException:
                    status = 0
                ended = time.monotonic()
                if measure_from <= began and ended <= stop_at:
                    with lock:
                        step.samples.append(Sample(route, began, ended - began, status))
                pause = rng.uniform(*step.think)
                if pause:
                    time.sleep(min(pause, max(0.0, stop_at - time.monotonic())))

    threads = [threading.Thread(target=person, args=(i,), daemon=True) for i in range(step.users)]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=plan.warmup + plan.duration + 60)
    # The generator's own CPU (all its threads), as a share of one core: what it took from gunicorn.
    step.generator_cpu = (time.process_time() - cpu_before) / (time.monotonic() - start)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value below which ``q`` of the samples fall)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def stats(samples: list[Sample], seconds: float) -> dict[str, Any]:
    times = [s.seconds * 1000 for s in samples]
    errors = sum(1 for s in samples if s.status == 0 or s.status >= 400)
    return {
        "requests": len(samples),
        "req_per_s": round(len(samples) / seconds, 1),
        "p50_ms": round(percentile(times, 0.50), 1) if times else None,
        "p99_ms": round(percentile(times, 0.99), 1) if times else None,
        "max_ms": round(max(times), 1) if times else None,
        "errors": errors,
    }


def summarize(step: Step, plan: Plan) -> dict[str, Any]:
    routes: dict[str, list[Sample]] = {}
    for sample in step.samples:
        routes.setdefault(sample.route, []).append(sample)
    statuses: dict[str, int] = {}
    for sample in step.samples:
        statuses[str(sample.status)] = statuses.get(str(sample.status), 0) + 1
    return {
        "users": step.users,
        "think_s": list(step.think),
        "all": stats(step.samples, plan.duration),
        "routes": {name: stats(samples, plan.duration) for name, samples in sorted(routes.items())},
        "statuses": statuses,
        "generator_cpu_share": round(step.generator_cpu, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }


class MixBench:
    def __init__(self, plan: Plan, cluster: Cluster) -> None:
        self.plan = plan
        self.cluster = cluster
        self.work = cluster.run_dir / "mix"
        self.sessions: list[UserSession] = []

    def serve(self, server: Server) -> tuple[procs.Proc, str]:
        port = procs.spare_port()
        bind = ["--bind", f"{LOOPBACK}:{port}", "--workers", "2"]
        bind += ["--worker-class", server.worker_class, "--threads", str(server.threads)]
        if server.app == "dealdesk":
            # The operator's gunicorn.conf.py (access log, timeouts) with the worker model under test.
            argv = [str(VENV_BIN / "gunicorn"), "--config", str(GUNICORN_CONF), *bind, "wsgi:app"]
            env = {**self.cluster.app_env(), "GUNICORN_LOG_LEVEL": "warning"}
        else:
            argv = [str(VENV_BIN / "gunicorn"), "--config", str(GUNICORN_BENCH_CONF), *bind]
            argv.append("bench.baseline_app:create_app()")
            env = {"BASELINE_VARIANT": "flask"}
        proc, popen = procs.start(server.name, argv, log=self.work / f"{server.name}.log", env=env, port=port)
        procs.wait_for_port(port, 60, popen, server.name)
        self._popen = popen
        return proc, f"http://{LOOPBACK}:{port}"

    def sign_in(self, base: str, count: int) -> None:
        """One signed-in session per simulated user, made once and reused by every server (they share Redis)."""
        engine = create_engine(normalize_database_url(self.cluster.database_url))
        with engine.connect() as conn:
            users = load_bench_users(conn, limit=count)
        engine.dispose()
        pooled = pools.dealdesk_pool(base, users)
        self.sessions = [UserSession(p.sid, p.csrf, p.deal_ids) for p in pooled]

    def run_server(self, server: Server, steps: tuple[int, ...], on_step) -> list[dict[str, Any]]:
        proc, base = self.serve(server)
        try:
            routes = MIX if server.app == "dealdesk" else ((BASELINE_ROUTE, 1),)
            if server.app == "dealdesk":
                for _ in range(4):  # each fresh worker connects to its stores before the clock starts
                    requests.get(base + "/api/csrf", timeout=60)
                if not self.sessions:
                    self.sign_in(base, max(max(steps), CAPACITY_USERS))
            results = []
            plan = self.plan
            capacity = Step(CAPACITY_USERS, (0.0, 0.0))
            simulate(base, self.sessions or [UserSession("-", "-", (1,))], routes, capacity, plan)
            results.append({"step": "capacity", **summarize(capacity, plan)})
            on_step(server, results[-1])
            for users in steps:
                step = Step(users, plan.think)
                simulate(base, self.sessions or [UserSession("-", "-", (1,))], routes, step, plan)
                results.append({"step": "think", **summarize(step, plan)})
                on_step(server, results[-1])
                if server.app == "dealdesk" and results[-1]["all"]["p99_ms"] >= P99_LIMIT_MS:
                    break  # the largest step under the limit is known: a bigger one only takes longer
            return results
        finally:
            procs.stop(proc.pid)
            self._popen.poll()


def largest_ok(results: list[dict[str, Any]]) -> int | None:
    ok = [
        r["users"]
        for r in results
        if r["step"] == "think" and r["all"]["p99_ms"] is not None and r["all"]["p99_ms"] < P99_LIMIT_MS
    ]
    return max(ok) if ok else None


def run(plan: Plan, on_step, servers: tuple[Server, ...] = SERVERS, *, name: str = "mix") -> dict[str, Any]:
    """Every server in ``servers`` through the plan's steps, on a cluster ``name`` (database ``dealdesk_<name>``)."""
    users = max(max(plan.steps), CAPACITY_USERS)
    database = "dealdesk_" + name.replace("-", "_")
    spec = ClusterSpec(name=name, instances=1, workers=1, database=database, users=users, scheduler=False)
    cluster = Cluster(spec)
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_before": round(os.getloadavg()[0], 2),
        "command": " ".join(["python -m bench.mix", *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "plan": {"steps": list(plan.steps), "duration_s": plan.duration, "warmup_s": plan.warmup},
        "think_s": list(plan.think),
        "servers_order": [server.name for server in servers],
        "mix": dict(MIX),
        "servers": {},
    }
    cluster.up()
    try:
        bench = MixBench(plan, cluster)
        for server in servers:
            # The baseline answers every step in a millisecond: the capacity step and the largest say it all.
            steps = plan.steps if server.app == "dealdesk" else plan.steps[-1:]
            results = bench.run_server(server, steps, on_step)
            entry = {"title": server.title, "steps": results, "largest_ok": largest_ok(results)}
            report["servers"][server.name] = entry
    finally:
        cluster.down()
    report["loadavg_after"] = round(os.getloadavg()[0], 2)
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def render_markdown(report: dict[str, Any], results_path: str) -> str:
    think = report["think_s"]
    plan = report["plan"]
    lines = [
        f"Run of {report['started_at']} — `{results_path}`. Command: `.venv/bin/{report['command']}`.",
        f"Load average (1 min) before {report['loadavg_before']:.2f}, after {report['loadavg_after']:.2f};"
        f" {report['cpus']} CPUs; {plan['duration_s']:g} s measured per step after a {plan['warmup_s']:g} s"
        f" warm-up; think time uniform {think[0]:g}-{think[1]:g} s; capacity step: {CAPACITY_USERS} users,"
        " no think time. Mix: " + ", ".join(f"{route} {weight}%" for route, weight in report["mix"].items()) + ".",
        "",
        "| server | users | largest step with p99 < 200 ms |",
        "|---|---:|---:|",
    ]
    for name, server in report["servers"].items():
        if name == "flask":
            continue
        largest = server["largest_ok"]
        tried = ", ".join(str(r["users"]) for r in server["steps"] if r["step"] == "think")
        lines.append(f"| {server['title']} | {tried} | {largest if largest is not None else 'none'} |")
    lines += [
        "",
        "| server | step | req/s | p50 ms | p99 ms | max ms | errors | load generator, cores |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for server in report["servers"].values():
        for result in server["steps"]:
            row = result["all"]
            lines.append(
                f"| {server['title']} | {_label(result)} | {row['req_per_s']:,.1f} | {_ms(row['p50_ms'])} |"
                f" {_ms(row['p99_ms'])} | {_ms(row['max_ms'])} | {row['errors']} |"
                f" {result['generator_cpu_share']:.2f} |"
            )
    # Per route: flat out, and at the largest step under the limit (the baseline: its largest step).
    lines += [
        "",
        "| server | step | route | req/s | p50 ms | p99 ms | max ms | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for server in report["servers"].values():
        largest = server["largest_ok"]
        chosen = [r for r in server["steps"] if r["step"] == "capacity" or r["users"] == largest]
        if largest is None:
            chosen += [r for r in server["steps"] if r["step"] == "think"][-1:]
        for result in chosen:
            for route, row in result["routes"].items():
                lines.append(
                    f"| {server['title']} | {_label(result)} | {route} | {row['req_per_s']:,.1f} |"
                    f" {_ms(row['p50_ms'])} | {_ms(row['p99_ms'])} | {_ms(row['max_ms'])} | {row['errors']} |"
                )
    return "\n".join(lines) + "\n"


def _label(result: dict[str, Any]) -> str:
    return "capacity" if result["step"] == "capacity" else f"{result['users']} users"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: one step of 20 users, 4 s per step")
    parser.add_argument("--steps", default="", help="comma-separated user counts (default 10,20,...,640)")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per step (default 15)")
    parser.add_argument("--servers", default="", help="comma-separated, in this order (default sync,gthread,flask)")
    parser.add_argument("--write-doc", action="store_true", help="put the table into docs/PERFORMANCE.md")
    parser.add_argument("--render", default="", help="render a saved result (bench/results/mix-*.json) instead")
    args = parser.parse_args(argv)
    if args.render:
        markdown = render_markdown(json.loads((REPO / args.render).read_text()), args.render)
        print(markdown)
        if args.write_doc:
            write_block("mix", markdown)
        return 0
    by_name = {server.name: server for server in SERVERS}
    servers = tuple(by_name[name] for name in args.servers.split(",") if name) or SERVERS
    plan = Plan(steps=(20,), duration=4.0, warmup=1.0) if args.quick else Plan()
    if args.steps:
        plan.steps = tuple(int(n) for n in args.steps.split(","))
    if args.duration is not None:
        plan.duration = args.duration

    def show(server: Server, result: dict[str, Any]) -> None:
        row = result["all"]
        label = "capacity" if result["step"] == "capacity" else f"{result['users']} users"
        print(
            f"{server.name:8} {label:10} {row['req_per_s']:>8.1f} req/s  p50 {_ms(row['p50_ms']):>7} ms"
            f"  p99 {_ms(row['p99_ms']):>7} ms  errors {row['errors']}  generator {result['generator_cpu_share']:.2f}"
            f" core  statuses {result['statuses']}",
            flush=True,
        )

    report = run(plan, show, servers)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"mix-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    relative = str(path.relative_to(REPO))
    markdown = render_markdown(report, relative)
    print(f"results: {relative}")
    print(markdown)
    if args.write_doc:
        write_block("mix", markdown)
        print("docs/PERFORMANCE.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
