"""Where a route's CPU goes: each route of ``bench.routes`` split into the phases of its request.

``bench.routes`` says what a route costs; this says what that cost is made of, which is what
a change has to aim at. The same set-up (a scratch PostgreSQL database seeded alike, Redis
sessions under a key prefix of their own, alice signed in, Flask's test client), then for each
route ``--requests`` requests with these methods timed (``time.process_time``), each phase's
time **exclusive** of the phases it calls (the header's statement, run from the layout while
the template renders, counts as SQL, not as Jinja):

* ``open_session`` — the session read (``MergingSessionInterface.open_session``);
* ``before_request`` — the hooks (``Flask.preprocess_request``: CSRF, sign-in, restore hook…);
* ``forms`` — building WTForms forms (``FlaskForm.__init__``);
* ``sql`` — ``Connection.execute``: building, compiling and sending a statement and waiting for
  its first answer (rows fetched later and turned into objects count as ``view``);
* ``jinja`` — rendering templates (``Template.render``), field widgets and macros included;
* ``view`` — the rest of the view function (``Flask.dispatch_request``);
* ``after_request`` — the hooks and the session save (``Flask.process_response``);
* ``flask`` — the rest of ``Flask.wsgi_app`` (contexts, routing, the response object);
* ``client`` — what the test client adds around it (building the environ, reading the body).

The methods are wrapped for this process only, before the apps are made (the fast path keeps
a reference to ``wsgi_app``), and the wrappers cost a little CPU of their own (about a
microsecond per timed call), charged to the phase that made the call.

    .venv/bin/python -m bench.route_phases [--routes me,deal,home,...] [--requests 300] [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2
from flask import Flask
from flask_wtf import FlaskForm
from sqlalchemy.engine import Connection

from bench import routes as route_bench
from web.platform.session_store.base import MergingSessionInterface

# (label, class, method) in the order of the table's columns.
PHASES: tuple[tuple[str, type, str], ...] = (
    ("open_session", MergingSessionInterface, "open_session"),
    ("before_request", Flask, "preprocess_request"),
    ("forms", FlaskForm, "__init__"),
    ("sql", Connection, "execute"),
    ("jinja", jinja2.Template, "render"),
    ("view", Flask, "dispatch_request"),
    ("after_request", Flask, "process_response"),
    ("flask", Flask, "wsgi_app"),
)
COLUMNS = [label for label, _cls, _name in PHASES] + ["client"]
DEFAULT_ROUTES = "hello,me,deal,deals,notes,audit,home,deals-page,deal-page,sessions-page,users-page,audit-page,select"


class PhaseClock:
    """Exclusive CPU time per phase: a phase's elapsed time, less that of the phases it called."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._callees: list[float] = []  # per open phase, the time of the phases it called

    def timed(self, label: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._callees.append(0.0)
            started = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                elapsed = time.process_time() - started
                self.seconds[label] += elapsed - self._callees.pop()
                if self._callees:
                    self._callees[-1] += elapsed

        return wrapper


@contextmanager
def phases_timed(clock: PhaseClock) -> Iterator[None]:
    """The phases' methods wrapped by ``clock`` in the block; put back afterwards."""
    originals = [(cls, name, cls.__dict__[name]) for _label, cls, name in PHASES]
    for (label, cls, name), (_cls, _name, method) in zip(PHASES, originals, strict=True):
        setattr(cls, name, clock.timed(label, method))
    try:
        yield
    finally:
        for cls, name, method in originals:
            setattr(cls, name, method)


def measure(route: route_bench.Route, requests: int, clock: PhaseClock) -> dict[str, float]:
    """Microseconds of CPU per request: the whole request and each phase."""
    for _ in range(max(10, requests // 10)):
        route.call()
    gc.collect()  # a collection owed by the previous route is not charged to this one (as in bench.routes)
    clock.seconds.clear()
    started = time.process_time()
    for _ in range(requests):
        route.call()
    total = time.process_time() - started
    row = {label: clock.seconds[label] / requests * 1e6 for label in COLUMNS[:-1]}
    row["client"] = total / requests * 1e6 - sum(row.values())
    row["total"] = total / requests * 1e6
    return row


def render_markdown(rows: dict[str, dict[str, float]], titles: dict[str, str]) -> str:
    head = "| route | total µs | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for key, row in rows.items():
        cells = " | ".join(f"{row[column]:,.0f}" for column in COLUMNS)
        lines.append(f"| {titles[key]} | {row['total']:,.0f} | {cells} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    keys = args.routes.split(",")
    clock = PhaseClock()
    # The methods are wrapped before the apps are made: the fast path keeps a reference to wsgi_app.
    with (
        phases_timed(clock),
        route_bench.seeded_bench(args.database_url, args.redis_url, "routephases", run_id) as bench,
    ):
        routes = {route.key: route for route in bench.routes}
        unknown = [key for key in keys if key not in routes]
        if unknown:
            raise SystemExit(f"route phases: unknown routes {unknown}; known: {', '.join(routes)}")
        rows = {key: measure(routes[key], args.requests, clock) for key in keys}
    return {
        "started_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "requests": args.requests,
        "loadavg": os.getloadavg(),
        "rows": rows,
        "titles": {key: routes[key].title for key in keys},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", default=DEFAULT_ROUTES, help="bench.routes keys, comma-separated")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per route")
    parser.add_argument("--database-url", default=route_bench.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=route_bench.DEFAULT_REDIS_URL)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    report = run(args)
    print(render_markdown(report["rows"], report["titles"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
