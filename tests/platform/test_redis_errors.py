"""Every kind of Redis failure on every path: a 503 ``session_store_unavailable``, never a 500.

Each test runs the app on a redis-server of its own and puts it, for real, in one condition:
stopped (connection refused), frozen with SIGSTOP (timeouts), out of memory (``maxmemory``
with ``noeviction``: ``OOM``), a replica (``READONLY``), running a script past
``busy-reply-threshold`` (``BUSY``); ``LOADING`` is injected in the clients
(``tests/support/redis_faults.py`` says why). Then it sends one request of one path.

What is asserted: a path that needs what the condition refuses answers 503 with
``Retry-After``, no cookie and, under /api, ``session_store_unavailable`` (health: 503
``unhealthy``); a path that does not (a read while writes are refused; a ``DEL``, which
``OOM`` lets through; ``/metrics``; a visitor, whose session is a cookie) answers as a
healthy store would. Never a 500, and no traceback logged at ERROR. A write answered 503
changed nothing in the database; once the condition is lifted the same request, retried,
reaches its end state (a revocation recorded during the failure included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.support.clients import ApiClient, form_token
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.logs import captured_logs
from tests.support.redis_faults import busy_script, loading, out_of_memory, read_only_replica
from tests.support.servers import RedisServer, private_redis_server
from tests.support.stacks import POSTGRES_REDIS, SQLITE_REDIS, StackSettings
from tests.support.state import index_rows, last_deal_id, rewrite_stored_session
from web.extensions import limiter

ON_REDIS_STACKS = pytest.mark.parametrize("stack", [SQLITE_REDIS, POSTGRES_REDIS], indirect=True)

# What each condition refuses: everything, or only writes (and which writes: OOM lets DEL through).
CONDITIONS = {
    "connection": "everything",
    "timeout": "everything",
    "loading": "everything",
    "busy": "everything",
    "oom": "writes but deletes",
    "readonly": "writes",
}


def refused(condition: str, needs: str) -> bool:
    """Whether a path that needs ``needs`` of the store gets a 503 under ``condition``."""
    refuses = CONDITIONS[condition]
    if needs == "nothing":
        return False
    if refuses == "everything":
        return True
    if needs == "read":
        return False
    return needs == "write" or refuses == "writes"  # a delete: refused by a replica, not by OOM


@dataclass
class Case:
    """One path, prepared on a healthy store: the request to send, what a healthy store answers,
    what must still hold after a 503, and the end state once a retry went through."""

    needs: str  # "nothing" | "read" | "delete" | "write"
    send: Callable[[], TestResponse]
    healthy: int = 200
    unchanged: Callable[[], None] = lambda: None
    done: Callable[[], None] = lambda: None
    api: bool = True
    extra: dict[str, object] = field(default_factory=dict)
    # What the retry may answer besides ``healthy`` (the end state is checked by ``done`` either way).
    also_on_retry: tuple[int, ...] = ()


def signed_in(app: Flask, email: str = "alice@acme.test") -> ApiClient:
    user = ApiClient(app.test_client())
    user.login(email)
    assert user.csrf  # fetched now, while the store is healthy
    return user


def case_load(app: Flask, demo: dict[str, int]) -> Case:
    alice = signed_in(app)
    return Case("read", lambda: alice.get("/api/me"))


def case_fast_path(app: Flask, demo: dict[str, int]) -> Case:
    alice = signed_in(app)
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200  # cached: a warm read
    return Case("read", lambda: alice.get("/api/deals/current"))


def case_select(app: Flask, demo: dict[str, int]) -> Case:
    """The session is written (WATCH, MULTI, SET ... XX, EXEC) before the database commits."""
    alice = signed_in(app)
    before = last_deal_id(app, demo["alice"])

    def unchanged() -> None:
        assert last_deal_id(app, demo["alice"]) == before

    def done() -> None:
        assert last_deal_id(app, demo["alice"]) == demo["contoso"]
        assert alice.current_deal_id() == demo["contoso"]

    return Case("write", lambda: alice.post(f"/api/deals/{demo['contoso']}/select"), unchanged=unchanged, done=done)


def case_save(app: Flask, demo: dict[str, int]) -> Case:
    """A cached deal past DEAL_CACHE_SECONDS: the fast path hands the read to Flask, which checks the
    deal again and merges the new copy into the stored session when it saves (WATCH ... SET XX)."""
    alice = signed_in(app)
    assert alice.post(f"/api/deals/{demo['northwind']}/select").status_code == 200

    def age_the_cache(data: dict[str, Any]) -> None:
        data["deal_ctx"]["checked_at"] = 0

    rewrite_stored_session(app, alice.session_id(), age_the_cache)
    return Case("write", lambda: alice.get("/api/deals/current"))


def case_sign_in(app: Flask, demo: dict[str, int]) -> Case:
    visitor = ApiClient(app.test_client())
    assert visitor.csrf
    before = len(index_rows(app, demo["alice"]))

    def unchanged() -> None:
        assert len(index_rows(app, demo["alice"])) == before
        assert visitor.session_id() is None

    def done() -> None:
        assert visitor.get("/api/me").status_code == 200

    return Case(
        "write",
        lambda: visitor.post("/api/auth/login", json={"email": "alice@acme.test", "password": DEFAULT_PASSWORD}),
        unchanged=unchanged,
        done=done,
    )


def case_sign_in_form(app: Flask, demo: dict[str, int]) -> Case:
    visitor = ApiClient(app.test_client())
    token = form_token(visitor.get("/login").get_data(as_text=True))
    form = {"csrf_token": token, "email": "alice@acme.test", "password": DEFAULT_PASSWORD}
    return Case("write", lambda: visitor.client.post("/login", data=form), healthy=302, api=False)


def case_sign_out(app: Flask, demo: dict[str, int]) -> Case:
    alice = signed_in(app)
    before = len(index_rows(app, demo["alice"]))

    def unchanged() -> None:
        assert len(index_rows(app, demo["alice"])) == before  # still listed: the session was not ended

    def done() -> None:
        assert alice.get("/api/me").status_code == 401

    return Case("delete", lambda: alice.post("/api/auth/logout"), healthy=204, unchanged=unchanged, done=done)


def case_list_sessions(app: Flask, demo: dict[str, int]) -> Case:
    alice = signed_in(app)
    signed_in(app)
    return Case("read", lambda: alice.get("/api/sessions"))


def case_revoke(app: Flask, demo: dict[str, int]) -> Case:
    """Revoking another session: recorded in the database, applied to the store (``session_sync``)."""
    alice, phone = signed_in(app), signed_in(app)
    listed = alice.get("/api/sessions").get_json()["sessions"]
    other = next(row["id"] for row in listed if not row["current"])

    def done() -> None:
        assert phone.get("/api/me").status_code == 401

    # A revocation answered 503 is recorded: the process applies it before serving the retry, which
    # then finds that session already gone (404), the same end state.
    return Case("delete", lambda: alice.delete(f"/api/sessions/{other}"), healthy=204, done=done, also_on_retry=(404,))


def case_visitor(app: Flask, demo: dict[str, int]) -> Case:
    visitor = ApiClient(app.test_client())
    return Case("nothing", lambda: visitor.get("/api/csrf"))


def case_health(app: Flask, demo: dict[str, int]) -> Case:
    return Case("write", lambda: app.test_client().get("/api/health/session"), extra={"health": True})


def case_metrics(app: Flask, demo: dict[str, int]) -> Case:
    return Case("nothing", lambda: app.test_client().get("/metrics"))


PATHS: dict[str, Callable[[Flask, dict[str, int]], Case]] = {
    "load": case_load,
    "fast_path": case_fast_path,
    "select": case_select,
    "save": case_save,
    "sign_in": case_sign_in,
    "sign_in_form": case_sign_in_form,
    "sign_out": case_sign_out,
    "list_sessions": case_list_sessions,
    "revoke": case_revoke,
    "visitor": case_visitor,
    "health": case_health,
    "metrics": case_metrics,
}


@pytest.fixture
def redis_app(app: Flask, demo: dict[str, int], stack_settings: StackSettings, redis_server: RedisServer) -> Flask:
    """An instance on the test's own redis-server (sessions and the sign-in throttle), short timeouts."""
    from web.platform.session_store import base

    base.report_store_recovered()  # start from "store up", whatever an earlier test left behind
    base.settle_changes_owed()
    return stack_settings.make_app(REDIS_URL=redis_server.url, REDIS_SOCKET_TIMEOUT=0.2)


@contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    server.stop()
    yield  # left stopped: the fixture ends it, and a restarted server would hold no sessions


@contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    server.freeze()
    try:
        yield
    finally:
        server.thaw()


@contextmanager
def replica_of_a_private_master(server: RedisServer, workdir: str) -> Iterator[None]:
    Path(workdir).mkdir(exist_ok=True)  # its own: a replica's full sync writes an RDB file there
    with private_redis_server(workdir) as master, read_only_replica(server, master):
        yield


def condition_in(name: str, app: Flask, server: RedisServer, workdir: str) -> AbstractContextManager[None]:
    if name == "connection":
        return stopped(server)
    if name == "timeout":
        return frozen(server)
    if name == "oom":
        return out_of_memory(server)
    if name == "readonly":
        return replica_of_a_private_master(server, workdir)
    if name == "busy":
        return busy_script(server)
    # The throttle's counters have a client of their own (Flask-Limiter's storage).
    return loading(app.extensions["dealdesk_redis"], limiter.storage.storage)  # type: ignore[attr-defined]


def assert_unavailable(response: TestResponse, case: Case) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    if case.extra.get("health"):
        assert response.get_json()["status"] == "unhealthy"
        assert response.get_json()["checks"]["session_store"]["ok"] is False
        return
    assert response.headers["Retry-After"] == "5"
    if case.api:
        assert response.get_json()["error"]["code"] == "session_store_unavailable"


@ON_REDIS_STACKS
@pytest.mark.parametrize("condition", list(CONDITIONS))
@pytest.mark.parametrize("path", list(PATHS))
def test_a_redis_that_cannot_serve_is_a_503_never_a_500(redis_app, demo, redis_server, tmp_path, condition, path):
    case = PATHS[path](redis_app, demo)
    with captured_logs() as logs:
        with condition_in(condition, redis_app, redis_server, str(tmp_path / "master")):
            response = case.send()
        if refused(condition, case.needs):
            assert_unavailable(response, case)
            case.unchanged()
        else:
            assert response.status_code == case.healthy, response.get_data(as_text=True)
    assert not logs.tracebacks(), logs.tracebacks()  # outages are logged once, without a traceback

    if condition == "connection":
        return  # a restarted server holds no sessions: nothing to retry
    if refused(condition, case.needs):
        response = case.send()  # the same request once the store serves again
        assert response.status_code in (case.healthy, *case.also_on_retry), response.get_data(as_text=True)
    case.done()


@ON_REDIS_STACKS
def test_a_redis_error_that_is_a_bug_stays_a_500_with_its_traceback(redis_app, redis_server):
    """``WRONGTYPE`` comes as the same class as ``BUSY``: only the outage kinds are 503s."""
    client = redis_app.extensions["dealdesk_redis"]
    key = f"{redis_app.config['SESSION_KEY_PREFIX']}a-list"

    def read_a_list_as_a_string():  # type: ignore[no-untyped-def]
        client.rpush(key, b"x")
        return {"value": client.get(key)}

    redis_app.add_url_rule("/api/test/wrongtype", view_func=read_a_list_as_a_string)
    with captured_logs() as logs:
        response = redis_app.test_client().get("/api/test/wrongtype")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert logs.tracebacks()  # a bug is logged with its traceback
