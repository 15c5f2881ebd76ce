"""Per-route in-process micro-benchmark: what each route costs next to a bare Flask request (issue 13).

One process, Flask's test client, no server: the CPU time per request of every route
a person clicks, divided by that of a bare Flask ``jsonify(hello="world")`` app measured
in the same run ("x hello"), with the SQL statements each request sends.

The stack is PostgreSQL + Redis sessions: a scratch database of its own on the
PostgreSQL server at ``--database-url`` (created, migrated, dropped at the end) and a
Redis key prefix of its own on ``--redis-url`` (its keys deleted at the end). The data
are the demo data (``web.demo``) plus 200 deals and 30 notes on the current deal, made
through the API as alice (an admin of Acme), who then makes every request.

Besides DealDesk's routes, five reference rows measured the same way:

* bare Flask + SQLAlchemy Core reading 50 deals from PostgreSQL as JSON: the limit for a list;
* the same rendered as a minimal Jinja table: the limit for a page;
* a bare Flask app on Flask-Session 0.8's own ``RedisSessionInterface``, read-only
  (``SESSION_REFRESH_EACH_REQUEST=False``) and with its defaults, answering the session's values.

Each row's time is the median over ``--batches`` batches of ``--requests`` requests of
``time.process_time`` per request; the batches go round every row in turn, so a busy
moment of the machine falls on all of them. Statements are counted afterwards, on a few
more requests, with SQLAlchemy ``before_cursor_execute`` listeners (so the timing carries
no listener): the app's statements; the session store's, tagged with
``web.platform.session_store.sql_store.STORE_EXECUTION_TAG``, apart (none on Redis sessions).
Each row is checked against its budget in issue 13.

    .venv/bin/python -m bench.routes [--batches 5] [--requests 200] [--json PATH] [--write-doc] [--pgbouncer]
        [--mariadb-url URL]

``--pgbouncer`` adds rows for a warm GET (``GET /api/me``), a GET that reads the database
(``GET /api/deals/<id>``) and the select through a pgbouncer in transaction pooling mode
(bench.pgbouncer, a pool of two server connections) in front of the same scratch database,
beside the same routes on PostgreSQL directly, and a second table of their wall-clock time
per request (the extra hop costs time, not CPU).

With ``--mariadb-url`` (a MariaDB server's existing database, e.g.
``mysql+pymysql://root@127.0.0.1:3306/test``) the run adds rows measured in the same batches: the warm
``GET /api/deals/current`` through Flask, ``GET /api/deals/<id>`` and the select on a scratch MariaDB
database seeded alike (Redis sessions, beside PostgreSQL's rows), and the warm GET and the select with the SQL
session store on each database.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from flask import Flask, jsonify, render_template, session
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_session import Session
from jinja2 import DictLoader
from sqlalchemy import Engine, MetaData, Table, bindparam, create_engine, event, select

from bench import procs
from bench.pgbouncer import pgbouncer_argv, pgbouncer_binary, url_through, write_config
from bench.report import write_block
from bench.scratch_databases import scratch_mariadb_database, scratch_postgres_database
from web import create_app
from web.config import normalize_database_url
from web.deals.models import Deal
from web.demo import DEMO_PASSWORD, seed_demo_data
from web.extensions import db
from web.platform.session_store.sql_store import STORE_EXECUTION_TAG, close_store_connections

DEFAULT_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
EXTRA_DEALS = 200
NOTES_ON_CURRENT_DEAL = 30
CURRENT_DEAL_NAME = "Northwind Logistics buyout"
ALICE = "alice@acme.test"
HELLO = "hello"


@dataclass(frozen=True)
class Budget:
    """Issue 13's goal for a kind of route: at most ``ratio`` x hello and ``statements`` SQL statements."""

    name: str
    ratio: float | None
    statements: int | None

    def describe(self) -> str:
        parts = [f"≤ {self.ratio:g}x" if self.ratio is not None else "", f"≤ {self.statements} stmts"]
        return f"{self.name}: " + ", ".join(part for part in parts if part)


API_ONE = Budget("API one thing", 4.0, 2)
API_LIST = Budget("API list", 8.0, 2)
PAGE = Budget("page", 15.0, 3)
# The warm request through Flask (and the fast path that answers the same request): also an API GET of one thing.
WARM = Budget("warm request", 2.5, 2)
# Select's goals are a latency (bench.run) and one transaction of at most 3 statements.
SELECT = Budget("select", None, 3)


@dataclass
class Route:
    key: str
    title: str
    client: FlaskClient
    method: str
    path: str
    engines: list[Engine]
    budget: Budget | None = None
    status: int = 200
    headers: dict[str, str] | None = None

    def call(self) -> int:
        return self.client.open(self.path, method=self.method, headers=self.headers).status_code


# --- the stores: a scratch database and a Redis prefix of the run's own ---------------------------------------------


@contextmanager
def redis_prefix(url: str, prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    client.ping()
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


# --- the apps ---------------------------------------------------------------------------------------------------------


def dealdesk_app(
    database_url: str, redis_url: str, prefix: str, *, fast_path: bool, sessions: str = "redis", **overrides: Any
) -> Flask:
    """DealDesk as production runs it on PostgreSQL + Redis sessions (every setting explicit, none from the env)."""
    return create_app(
        {
            **overrides,
            "APP_ENV": "development",
            "SECRET_KEY": "route-bench-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SESSION_BACKEND": sessions,
            "REDIS_URL": redis_url,
            "REDIS_SENTINELS": [],
            "SESSION_KEY_PREFIX": prefix,
            "CURRENT_DEAL_FAST_PATH": fast_path,
            "SESSION_COOKIE_SECURE": False,
            "SCHEDULER_ENABLED": False,
            # Nothing is logged per request; this keeps set-up messages off the table on stdout.
            "LOG_LEVEL": "WARNING",
        }
    )


def hello_app() -> Flask:
    app = Flask("routebench_hello")

    @app.get("/")
    def hello() -> Any:
        return jsonify(hello="world")

    return app


LIMIT_TABLE = """<!doctype html><title>Deals</title><table>
<tr><th>Name</th><th>Stage</th><th>Value</th><th>Updated</th></tr>
{% for deal in deals %}<tr><td><a href="/deals/{{ deal.id }}">{{ deal.name }}</a></td><td>{{ deal.stage }}</td>
<td>{{ deal.value }}</td><td>{{ deal.updated_at }}</td></tr>{% endfor %}
</table>"""


def limit_app(engine: Engine, organization_id: int) -> Flask:
    """Bare Flask + SQLAlchemy Core: an organization's 50 latest live deals as JSON and as a Jinja table."""
    app = Flask("routebench_limit")
    app.jinja_loader = DictLoader({"table.html": LIMIT_TABLE})
    deals = Table("deals", MetaData(), autoload_with=engine)
    statement = (
        select(deals.c.id, deals.c.name, deals.c.stage, deals.c.value, deals.c.updated_at)
        .where(deals.c.organization_id == bindparam("org"), deals.c.deleted_at.is_(None))
        .order_by(deals.c.updated_at.desc())
        .limit(50)
    )

    def rows() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [
                {**row._mapping, "value": str(row.value), "updated_at": row.updated_at.isoformat()}
                for row in conn.execute(statement, {"org": organization_id})
            ]

    @app.get("/json")
    def as_json() -> Any:
        return jsonify(deals=rows())

    @app.get("/html")
    def as_html() -> str:
        return render_template("table.html", deals=rows())

    return app


def flask_session_app(client: redis.Redis, prefix: str, *, read_only: bool) -> Flask:
    """Bare Flask on Flask-Session's own RedisSessionInterface, as bench.baseline_app (with a key prefix)."""
    app = Flask("routebench_flask_session")
    app.config.update(
        SECRET_KEY="route-bench-secret",
        SESSION_TYPE="redis",
        SESSION_REDIS=client,
        SESSION_KEY_PREFIX=prefix,
        SESSION_REFRESH_EACH_REQUEST=not read_only,
    )
    Session(app)

    @app.post("/login")
    def login() -> Any:
        session["user_id"], session["deal_id"] = 1, 1
        return {"user_id": 1}

    @app.get("/current")
    def current() -> Any:
        return {"current_deal": {"id": session["deal_id"]}, "user_id": session["user_id"]}

    return app


# --- the data and the signed-in clients -------------------------------------------------------------------------------


def csrf_token(client: FlaskClient) -> str:
    return str(client.get("/api/csrf").get_json()["csrf_token"])


def checked(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise SystemExit(f"route bench set-up: {what} answered {response.status_code}: {response.get_data(True)[:300]}")
    return response


def sign_in(app: Flask) -> tuple[FlaskClient, str]:
    """A client signed in as alice, with the CSRF token of its session."""
    client = app.test_client()
    body = {"email": ALICE, "password": DEMO_PASSWORD}
    checked(client.post("/api/auth/login", json=body, headers={"X-CSRFToken": csrf_token(client)}), 200, "sign-in")
    return client, csrf_token(client)  # sign-in started a new session, with a new token


def seed(app: Flask) -> tuple[int, int]:
    """Migrate, load the demo data, then (as alice) add the deals and the notes.

    Returns the current deal's id and the number of deals alice sees.
    """
    with app.app_context():
        upgrade()
        seed_demo_data(db.session)
        deal_id = db.session.scalar(select(Deal.id).where(Deal.name == CURRENT_DEAL_NAME))
        db.session.remove()
    assert deal_id is not None
    client, token = sign_in(app)
    headers = {"X-CSRFToken": token}
    for number in range(1, EXTRA_DEALS + 1):
        body = {"name": f"Route bench deal {number}", "stage": "sourcing", "value": "1000.00"}
        checked(client.post("/api/deals", json=body, headers=headers), 201, "POST /api/deals")
    checked(client.post(f"/api/deals/{deal_id}/select", headers=headers), 200, "select")
    for number in range(1, NOTES_ON_CURRENT_DEAL + 1):
        body = {"body": f"Route bench note {number}: met the management team, numbers to follow."}
        checked(client.post(f"/api/deals/{deal_id}/notes", json=body, headers=headers), 201, "POST notes")
    total = checked(client.get("/api/deals"), 200, "GET /api/deals").get_json()["total"]
    return int(deal_id), int(total)


def dealdesk_engines(app: Flask) -> list[Engine]:
    """The engines a DealDesk request can send SQL on: the app's, and the SQL session store's if any."""
    with app.app_context():
        engines = {db.engine}
        store_engines = getattr(app.session_interface, "engines", None)
        if store_engines is not None:
            engines.update(store_engines())
    return list(engines)


def dealdesk_routes(app: Flask, flask_path_app: Flask, deal_id: int, visible_deals: int) -> list[Route]:
    client, token = sign_in(app)
    # The same session through the app without the fast path: the cookie is all a browser would send.
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    flask_client = flask_path_app.test_client()
    flask_client.set_cookie(cookie.key, cookie.value)
    engines = dealdesk_engines(app)

    def get(key: str, title: str, path: str, budget: Budget, on: FlaskClient = client) -> Route:
        return Route(key, title, on, "GET", path, dealdesk_engines(on.application), budget)

    deal, current = f"/api/deals/{deal_id}", "/api/deals/current"
    return [
        get("current-fast", "`GET /api/deals/current` (fast path)", current, WARM),
        get("current-flask", "`GET /api/deals/current` (`CURRENT_DEAL_FAST_PATH=0`)", current, WARM, flask_client),
        get("me", "`GET /api/me`", "/api/me", WARM),
        get("deal", "`GET /api/deals/<id>`", deal, API_ONE),
        get("deals", f"`GET /api/deals` (50 of {visible_deals})", "/api/deals", API_LIST),
        get("notes", f"`GET /api/deals/<id>/notes` ({NOTES_ON_CURRENT_DEAL})", f"{deal}/notes", API_LIST),
        get("audit", "`GET /api/audit`", "/api/audit", API_LIST),
        get("home", "`GET /` (home)", "/", PAGE),
        get("deals-page", "`GET /deals`", "/deals", PAGE),
        get("deal-page", "`GET /deals/<id>`", f"/deals/{deal_id}", PAGE),
        get("sessions-page", "`GET /settings/sessions`", "/settings/sessions", PAGE),
        get("users-page", "`GET /admin/users`", "/admin/users", PAGE),
        get("audit-page", "`GET /admin/audit`", "/admin/audit", PAGE),
        Route("select", "`POST /api/deals/<id>/select`", client, "POST", f"{deal}/select", engines, SELECT, 200,
              {"X-CSRFToken": token}),
    ]  # fmt: skip


def database_routes(app: Flask, flask_path_app: Flask, deal_id: int, label: str, *, with_deal: bool) -> list[Route]:
    """The warm GET through Flask, optionally ``GET /api/deals/<id>``, and the select, on one more stack."""
    client, token = sign_in(app)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    flask_client = flask_path_app.test_client()
    flask_client.set_cookie(cookie.key, cookie.value)
    key = label.lower().replace(" ", "-").replace(",", "")
    deal = f"/api/deals/{deal_id}"
    routes = [
        Route(f"current-flask-{key}", f"`GET /api/deals/current` (`CURRENT_DEAL_FAST_PATH=0`), {label}", flask_client,
              "GET", "/api/deals/current", dealdesk_engines(flask_path_app), WARM),
    ]  # fmt: skip
    if with_deal:
        routes.append(Route(f"deal-{key}", f"`GET /api/deals/<id>`, {label}", client, "GET", deal,
                            dealdesk_engines(app), API_ONE))  # fmt: skip
    routes.append(Route(f"select-{key}", f"`POST /api/deals/<id>/select`, {label}", client, "POST", f"{deal}/select",
                        dealdesk_engines(app), SELECT, 200, {"X-CSRFToken": token}))  # fmt: skip
    return routes


def more_stacks(
    stack: ExitStack, args: argparse.Namespace, postgres_url: str, prefix: str, run_id: str
) -> tuple[list[Route], list[Flask], str | None]:
    """With ``--mariadb-url``: MariaDB beside PostgreSQL (Redis sessions), and each with the SQL session store."""
    if not args.mariadb_url:
        return [], [], None
    mariadb_url = stack.enter_context(scratch_mariadb_database(args.mariadb_url, f"dealdesk_routebench_{run_id}"))
    apps: list[Flask] = []

    def pair(url: str, sessions: str) -> tuple[Flask, Flask]:
        made = (
            dealdesk_app(url, args.redis_url, prefix, fast_path=True, sessions=sessions),
            dealdesk_app(url, args.redis_url, prefix, fast_path=False, sessions=sessions),
        )
        apps.extend(made)
        return made

    mariadb_app, mariadb_flask_app = pair(mariadb_url, "redis")
    deal_id, _ = seed(mariadb_app)
    routes = database_routes(mariadb_app, mariadb_flask_app, deal_id, "MariaDB", with_deal=True)
    for url, name in ((postgres_url, "PostgreSQL"), (mariadb_url, "MariaDB")):
        app, flask_app = pair(url, "sqlalchemy")
        with app.app_context():
            deal_id = db.session.scalar(select(Deal.id).where(Deal.name == CURRENT_DEAL_NAME))
            db.session.remove()
        routes += database_routes(app, flask_app, int(deal_id), f"{name}, SQL sessions", with_deal=False)
    with create_engine(mariadb_url).connect() as conn:
        version = str(conn.exec_driver_sql("SELECT VERSION()").scalar_one())
    return routes, apps, version


def reference_routes(database_url: str, redis_client: redis.Redis, prefix: str) -> tuple[list[Route], Engine]:
    engine = create_engine(normalize_database_url(database_url), pool_size=2)
    with engine.connect() as conn:
        organization_id = conn.exec_driver_sql("SELECT id FROM organizations WHERE name = 'Acme Capital'").scalar_one()
    limits = limit_app(engine, organization_id).test_client()
    routes = [
        Route(HELLO, 'bare Flask `jsonify(hello="world")` (the unit)', hello_app().test_client(), "GET", "/", []),
        Route("limit-json", "bare Flask + SQLAlchemy Core, 50 rows from PostgreSQL as JSON (the limit for a list)",
              limits, "GET", "/json", [engine]),
        Route("limit-jinja", "the same as a minimal Jinja table (the limit for a page)", limits, "GET", "/html",
              [engine]),
    ]  # fmt: skip
    for read_only, name in ((True, "read-only"), (False, "defaults")):
        client = flask_session_app(redis_client, f"{prefix}fs-{name}:", read_only=read_only).test_client()
        checked(client.post("/login"), 200, "Flask-Session sign-in")
        title = f"Flask-Session 0.8 on Redis, {name}"
        routes.append(Route(f"flask-session-{name}", title, client, "GET", "/current", []))
    return routes, engine


# --- through PgBouncer (--pgbouncer) ---------------------------------------------------------------------------------

# (key of the route on PostgreSQL directly, key of the same route through PgBouncer)
PGBOUNCER_PAIRS = (("me", "pgbouncer-me"), ("deal", "pgbouncer-deal"), ("select", "pgbouncer-select"))
PGBOUNCER_POOL_SIZE = 2


@contextmanager
def pgbouncer_in_front(database_url: str) -> Iterator[str]:
    """A pgbouncer in transaction mode in front of ``database_url``'s server; yields the URL through it."""
    binary = pgbouncer_binary()
    if binary is None:
        raise SystemExit("route bench: --pgbouncer needs pgbouncer (bash scripts/install-pgbouncer.sh)")
    workdir = Path(tempfile.mkdtemp(prefix="dealdesk-routebench-pgbouncer-"))
    port = procs.spare_port()
    ini = write_config(workdir, database_url, port=port, pool_size=PGBOUNCER_POOL_SIZE, statement_timeout_ms=1000)
    with open(workdir / "pgbouncer.log", "wb") as log:
        popen = subprocess.Popen(pgbouncer_argv(binary, ini), stdout=log, stderr=subprocess.STDOUT)
    try:
        procs.wait_for_port(port, 10, popen, "pgbouncer")
        yield url_through(database_url, port)
    finally:
        popen.terminate()
        popen.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def pgbouncer_routes(app: Flask, deal_id: int) -> list[Route]:
    """The warm GET, a GET that reads the database, and the select, on an app whose database is through PgBouncer."""
    client, token = sign_in(app)
    engines = dealdesk_engines(app)
    deal, through = f"/api/deals/{deal_id}", "through PgBouncer (transaction mode)"
    return [
        Route("pgbouncer-me", f"`GET /api/me` {through}", client, "GET", "/api/me", engines, WARM),
        Route("pgbouncer-deal", f"`GET /api/deals/<id>` {through}", client, "GET", deal, engines, API_ONE),
        Route("pgbouncer-select", f"`POST /api/deals/<id>/select` {through}", client, "POST", f"{deal}/select",
              engines, SELECT, 200, {"X-CSRFToken": token}),
    ]  # fmt: skip


def wall_times(routes: list[Route], batches: int, requests: int) -> dict[str, float]:
    """Wall-clock µs per request of each route: the median of ``batches`` batches going round the routes in turn."""
    seconds: dict[str, list[float]] = {route.key: [] for route in routes}
    for _ in range(batches):
        for route in routes:
            started = time.perf_counter()
            for _ in range(requests):
                route.call()
            seconds[route.key].append((time.perf_counter() - started) / requests)
    return {key: round(statistics.median(values) * 1e6, 1) for key, values in seconds.items()}


def render_pgbouncer(report: dict[str, Any]) -> str:
    """PostgreSQL directly and through PgBouncer, side by side: CPU and wall-clock µs per request, statements."""
    rows = {row["key"]: row for row in report["rows"]}
    wall = report["pgbouncer"]["wall_us"]
    lines = [
        "",
        f"Through PgBouncer {report['pgbouncer']['version']} (pool_mode = transaction, default_pool_size ="
        f" {PGBOUNCER_POOL_SIZE}, `DATABASE_POOLER=pgbouncer`) beside PostgreSQL directly, same run; wall-clock µs"
        f" per request: median of {report['batches']} batches of {report['requests']} requests.",
        "",
        "| route | CPU µs direct | CPU µs PgBouncer | wall µs direct | wall µs PgBouncer | statements |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for direct, pooled in PGBOUNCER_PAIRS:
        a, b = rows[direct], rows[pooled]
        lines.append(
            f"| {a['title']} | {a['cpu_us_per_request']:,.1f} | {b['cpu_us_per_request']:,.1f} |"
            f" {wall[direct]:,.1f} | {wall[pooled]:,.1f} | {a['statements']} / {b['statements']} |"
        )
    return "\n".join(lines) + "\n"


def pgbouncer_version(binary: str | None) -> str:
    if binary is None:
        return "?"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    return out.split()[1] if len(out.split()) > 1 else "?"


# --- measuring ----------------------------------------------------------------------------------------------------


def warm_up(routes: list[Route], warmup: int) -> dict[str, float]:
    """Requests on every route before the batches; returns each route's CPU seconds per request meanwhile."""
    estimates = {}
    for route in routes:
        started = time.process_time()
        for _ in range(warmup):
            status = route.call()
            if status != route.status:
                raise SystemExit(f"route bench: {route.key} answered {status} during the warm-up")
        estimates[route.key] = (time.process_time() - started) / warmup
    return estimates


def time_batches(routes: list[Route], batches: int, sizes: dict[str, int]) -> dict[str, list[float]]:
    """CPU seconds per request of each route, one figure per batch; every batch goes round all the routes."""
    seconds: dict[str, list[float]] = {route.key: [] for route in routes}
    bad: Counter[str] = Counter()
    for _ in range(batches):
        for route in routes:
            gc.collect()  # a collection owed by the previous route is not charged to this one
            call, expected, requests = route.call, route.status, sizes[route.key]
            started = time.process_time()
            for _ in range(requests):
                if call() != expected:
                    bad[route.key] += 1
            seconds[route.key].append((time.process_time() - started) / requests)
    if bad:
        raise SystemExit(f"route bench: unexpected statuses during the timing: {dict(bad)}")
    return seconds


def count_statements(route: Route, requests: int) -> tuple[list[int], list[int]]:
    """Statements per request (the app's, the session store's) over ``requests`` requests."""
    counts = {"app": 0, "store": 0}

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        options = context.execution_options if context is not None else {}
        tag = "store" if options.get("dealdesk_component") == STORE_EXECUTION_TAG["dealdesk_component"] else "app"
        counts[tag] += 1

    app_counts, store_counts = [], []
    with ExitStack() as listening:
        for engine in route.engines:
            event.listen(engine, "before_cursor_execute", record)
            listening.callback(event.remove, engine, "before_cursor_execute", record)
        for _ in range(requests):
            counts.update(app=0, store=0)
            status = route.call()
            if status != route.status:
                raise SystemExit(f"route bench: {route.key} answered {status} while counting statements")
            app_counts.append(counts["app"])
            store_counts.append(counts["store"])
    return app_counts, store_counts


def batch_sizes(estimates: dict[str, float], requests: int, min_batch_seconds: float) -> dict[str, int]:
    """At least ``requests`` requests per batch, more for a cheap route: a batch of it lasts ``min_batch_seconds``."""
    return {key: max(requests, math.ceil(min_batch_seconds / max(cost, 1e-6))) for key, cost in estimates.items()}


def measure(routes: list[Route], args: argparse.Namespace) -> list[dict[str, Any]]:
    sizes = batch_sizes(warm_up(routes, args.warmup), args.requests, args.min_batch_ms / 1000)
    seconds = time_batches(routes, args.batches, sizes)
    hello = statistics.median(seconds[HELLO])
    rows = []
    for route in routes:
        median = statistics.median(seconds[route.key])
        app_counts, store_counts = count_statements(route, args.count_requests)
        # The usual request: a cache refresh or an expiry extension now and then is not the route's cost.
        statements = Counter(app_counts).most_common(1)[0][0]
        ratio = median / hello
        budget = route.budget
        met = None
        if budget is not None:
            met = (budget.ratio is None or ratio <= budget.ratio) and (
                budget.statements is None or statements <= budget.statements
            )
        rows.append(
            {
                "key": route.key,
                "title": route.title,
                "method": route.method,
                "path": route.path,
                "cpu_us_per_request": round(median * 1e6, 1),
                "cpu_us_each_batch": [round(value * 1e6, 1) for value in seconds[route.key]],
                "requests_per_batch": sizes[route.key],
                "x_hello": round(ratio, 2),
                "statements": statements,
                "statements_each_request": app_counts,
                "store_statements_each_request": store_counts,
                "budget": None if budget is None else budget.describe(),
                "met": met,
            }
        )
    return rows


# --- the report -----------------------------------------------------------------------------------------------------


def render_markdown(report: dict[str, Any]) -> str:
    load_before, load_after = report["loadavg_before"][0], report["loadavg_after"][0]
    lines = [
        f"Run of {report['started_at']}, command `{report['command']}`: per route the median of"
        f" {report['batches']} batches, each of at least {report['requests']} requests and"
        f" {report['min_batch_ms']:g} ms of CPU (cheap routes get more requests), the batches going round every"
        f" route in turn; load average (1 min) before {load_before:.2f},"
        f" after {load_after:.2f}; {report['cpus']} CPUs; PostgreSQL {report['postgresql']},"
        + (f" MariaDB {report['mariadb'].split('-')[0]} (PyMySQL)," if report.get("mariadb") else "")
        + " Redis"
        f' {report["redis"]}, Python {report["python"]}. The unit: bare Flask `jsonify(hello="world")`,'
        f" {report['hello_cpu_us']:.1f} µs of CPU per request through the test client.",
        "",
        "| route | CPU µs / request | x hello | SQL statements | budget (issue 13) | |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in report["rows"]:
        store = max(row["store_statements_each_request"], default=0)
        statements = f"{row['statements']}" + (f" (+{store} store)" if store else "")
        mark = "" if row["met"] is None else ("met" if row["met"] else "**not met**")
        lines.append(
            f"| {row['title']} | {row['cpu_us_per_request']:,.1f} | {row['x_hello']:.1f} | {statements} |"
            f" {row['budget'] or ''} | {mark} |"
        )
    return "\n".join(lines) + "\n"


def server_versions(database_url: str, redis_client: redis.Redis) -> tuple[str, str]:
    engine = create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as conn:
            postgresql = str(conn.exec_driver_sql("SHOW server_version").scalar_one()).split()[0]
    finally:
        engine.dispose()
    return postgresql, str(redis_client.info("server")["redis_version"])


@dataclass
class SeededBench:
    """The scratch PostgreSQL database (``url``) and Redis key prefix of one run, seeded, with every route on them."""

    url: str
    prefix: str
    redis_client: redis.Redis
    deal_id: int
    routes: list[Route]


def dispose_engines(apps: list[Flask]) -> None:
    for each in apps:
        with each.app_context():
            db.engine.dispose()


@contextmanager
def seeded_bench(database_url: str, redis_url: str, name: str, run_id: str) -> Iterator[SeededBench]:
    """A database ``dealdesk_<name>_<run_id>`` and a key prefix ``dealdesk-<name>:<run_id>:``, the demo data seeded,
    the reference and DealDesk routes on them; their connections closed, the database and the keys gone at the end."""
    prefix = f"dealdesk-{name}:{run_id}:"
    with (
        scratch_postgres_database(database_url, f"dealdesk_{name}_{run_id}") as url,
        redis_prefix(redis_url, prefix) as redis_client,
    ):
        app = dealdesk_app(url, redis_url, prefix, fast_path=True)
        flask_path_app = dealdesk_app(url, redis_url, prefix, fast_path=False)
        deal_id, visible_deals = seed(app)
        references, limit_engine = reference_routes(url, redis_client, prefix)
        routes = references + dealdesk_routes(app, flask_path_app, deal_id, visible_deals)
        try:
            yield SeededBench(url, prefix, redis_client, deal_id, routes)
        finally:
            limit_engine.dispose()
            dispose_engines([app, flask_path_app])
            close_store_connections()


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    run_id = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "loadavg_before": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "batches": args.batches,
        "requests": args.requests,
        "min_batch_ms": args.min_batch_ms,
    }
    with seeded_bench(args.database_url, args.redis_url, "routebench", run_id) as bench, ExitStack() as pooled:
        url, prefix, routes = bench.url, bench.prefix, bench.routes
        apps: list[Flask] = []
        if args.pgbouncer:
            through = pooled.enter_context(pgbouncer_in_front(url))
            apps.append(dealdesk_app(through, args.redis_url, prefix, fast_path=True, DATABASE_POOLER="pgbouncer"))
            routes += pgbouncer_routes(apps[-1], bench.deal_id)
        extra_routes, extra_apps, report["mariadb"] = more_stacks(pooled, args, url, prefix, run_id)
        routes += extra_routes
        apps += extra_apps
        # Last in, first out: these engines close before pgbouncer stops and the MariaDB database is dropped.
        pooled.callback(dispose_engines, apps)
        rows = measure(routes, args)
        report["postgresql"], report["redis"] = server_versions(url, bench.redis_client)
        if args.pgbouncer:
            pairs = [route for route in routes if any(route.key in pair for pair in PGBOUNCER_PAIRS)]
            report["pgbouncer"] = {
                "version": pgbouncer_version(pgbouncer_binary()),
                "wall_us": wall_times(pairs, args.batches, args.requests),
            }
    report["rows"] = rows
    report["hello_cpu_us"] = next(row["cpu_us_per_request"] for row in rows if row["key"] == HELLO)
    report["loadavg_after"] = os.getloadavg()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=5, help="timed batches per route; the median is reported")
    parser.add_argument("--requests", type=int, default=100, help="requests per batch, at least")
    parser.add_argument(
        "--min-batch-ms", type=float, default=50.0, help="CPU ms per batch, at least: cheap routes get more requests"
    )
    parser.add_argument("--warmup", type=int, default=20, help="requests per route first, outside the batches")
    parser.add_argument("--count-requests", type=int, default=5, help="requests per route whose SQL is counted")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="a PostgreSQL server's existing database")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--mariadb-url", help="also measure on a scratch database of this MariaDB server")
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--write-doc", action="store_true", help="put the table into docs/PERFORMANCE.md")
    parser.add_argument(
        "--pgbouncer", action="store_true", help="add a warm GET and the select through PgBouncer (transaction mode)"
    )
    args = parser.parse_args(argv)
    if min(args.batches, args.requests, args.count_requests, args.warmup) < 1 or args.min_batch_ms < 0:
        parser.error("--batches, --requests, --warmup and --count-requests must be at least 1")
    command = " ".join([".venv/bin/python -m bench.routes", *(argv if argv is not None else sys.argv[1:])])
    report = run(args, command)
    markdown = render_markdown(report)
    if "pgbouncer" in report:
        markdown += render_pgbouncer(report)
    print(markdown, end="")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
    if args.write_doc:
        write_block("routes", markdown)
        print("docs/PERFORMANCE.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
