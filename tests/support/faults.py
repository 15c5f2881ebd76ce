"""Fault injection in the store clients: count a request's I/O steps, make the store of the k-th fail.

The steps are every SQL statement and every COMMIT on the app's engine (the SQL session
store's included, it shares the engine), and every round trip to Redis. From step k to the
end of the block, every step on the same store raises what a dropped connection raises in
that client (``OperationalError`` from the database, ``redis.ConnectionError`` from Redis),
before anything is sent, so the server never sees it; the other store keeps working. Real
servers stay up: the fault is in the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from web.extensions import db


class InjectedFault(Exception):
    """The cause attached to every injected failure, so a test can tell it from a real one."""


@dataclass
class FaultPlan:
    """Which step fails (1-based; None counts only) and the steps seen so far, by kind."""

    fail_at: int | None = None
    steps: list[str] = field(default_factory=list)

    def step(self, kind: str) -> None:
        self.steps.append(kind)
        if self.fail_at is None or len(self.steps) < self.fail_at:
            return
        first = self.steps[self.fail_at - 1]
        # From step k on, the store that failed stays down until the request ends (a client's own
        # retry, as redis-py makes one, finds it down too); the other store keeps working.
        if self.store(kind) == self.store(first):
            if kind == "redis":
                raise redis.exceptions.ConnectionError("injected fault")
            raise OperationalError(f"injected fault at {kind}", None, InjectedFault(kind))

    @staticmethod
    def store(kind: str) -> str:
        return "redis" if kind == "redis" else "database"


@contextmanager
def injecting(app: Flask, plan: FaultPlan) -> Iterator[FaultPlan]:
    """Route the app's database and Redis I/O through ``plan`` while the block runs."""
    with app.app_context():
        engine = db.engine

    def before_statement(*_args: Any, **_kwargs: Any) -> None:
        plan.step("sql")

    def before_commit(_conn: Any) -> None:
        plan.step("commit")

    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", before_commit)
    client: redis.Redis | None = app.extensions.get("dealdesk_redis")
    base = client.connection_pool.connection_class if client is not None else None
    if client is not None:
        _route_redis_through(client, plan)
    try:
        yield plan
    finally:
        event.remove(engine, "before_cursor_execute", before_statement)
        event.remove(engine, "commit", before_commit)
        if client is not None and base is not None:
            client.connection_pool.connection_class = base
            client.connection_pool.reset()


def _route_redis_through(client: redis.Redis, plan: FaultPlan) -> None:
    """Every round trip of this client's connections (one per command or pipeline) is a step."""
    pool = client.connection_pool
    original = pool.connection_class.send_packed_command

    def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
        plan.step("redis")
        original(self, command, check_health)

    pool.connection_class = type(
        "FaultyConnection", (pool.connection_class,), {"send_packed_command": send_packed_command}
    )
    pool.reset()  # pooled connections are of the old class: the next ones go through the plan
