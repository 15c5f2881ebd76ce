"""PostgreSQL behind PgBouncer in transaction pooling mode: nothing may be held on a server connection
across transactions.

Each test starts a pgbouncer of its own (tests/support/pgbouncer.py) with a pool of two
server connections, so the app's many client connections really do share them. The app
is the stack's, with ``SQLALCHEMY_DATABASE_URI`` through pgbouncer and
``DATABASE_POOLER=pgbouncer``; the scratch database was migrated directly against
PostgreSQL by the ``postgres_url`` fixture. Sessions, selections, their propagation and
the job lock are exercised through it; the old session-level advisory lock and a
session-level SET are shown breaking under the same pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.support.clients import ApiClient, signed_in
from tests.support.concurrency import Call, Crowd, live_server
from tests.support.factories import Factories
from tests.support.pgbouncer import PgBouncer, running_pgbouncer
from tests.support.stacks import POSTGRES_REDIS, POSTGRES_SQL, StackSettings
from tests.support.state import index_rows, last_deal_id, stored_session
from web.config import postgres_connect_args
from web.extensions import db
from web.jobs.locks import AdvisoryLock, advisory_key
from web.jobs.registry import JobSpec
from web.jobs.runner import run_job
from web.platform.db import install_wait_callback, silent_servers
from web.platform.session_store.base import hash_session_id

pytestmark = pytest.mark.postgres
BOTH_SESSION_STORES = pytest.mark.parametrize("stack", [POSTGRES_SQL, POSTGRES_REDIS], indirect=True)
SQL_SESSIONS = pytest.mark.parametrize("stack", [POSTGRES_SQL], indirect=True)

POOL_SIZE = 2  # server connections per database and user: fewer than the clients below
# Set by pgbouncer's connect_query on each server connection; not the app's 1 s, so SHOW tells who set it.
SERVER_STATEMENT_TIMEOUT_MS = 900
RACE_ROUNDS = 20
SELECTORS = 3


@pytest.fixture
def pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    with running_pgbouncer(
        postgres_url, pool_size=POOL_SIZE, statement_timeout_ms=SERVER_STATEMENT_TIMEOUT_MS
    ) as server:
        yield server


@pytest.fixture
def stack_settings(pgbouncer: PgBouncer, postgres_url: str, stack_settings: StackSettings) -> StackSettings:
    """The stack's settings with the database reached through pgbouncer (every instance made from them)."""
    stack_settings.config.update(
        SQLALCHEMY_DATABASE_URI=pgbouncer.url_for(postgres_url),
        DATABASE_POOLER="pgbouncer",
        JOB_LOCK_BACKEND="postgresql",
    )
    return stack_settings


def raw_client(pgbouncer: PgBouncer, postgres_url: str) -> psycopg2.extensions.connection:
    """A plain psycopg2 connection through pgbouncer (autocommit: each statement its own transaction)."""
    conn = psycopg2.connect(pgbouncer.url_for(postgres_url).replace("postgresql+psycopg2", "postgresql"))
    conn.autocommit = True
    return conn


def scalar(conn: psycopg2.extensions.connection, sql: str, *args: object) -> object:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchone()[0]


# --- Why: server connections are shared between transactions ----------------------------------


def test_clients_share_the_server_connections_so_a_session_setting_leaks(pgbouncer, postgres_url):
    clients = [raw_client(pgbouncer, postgres_url) for _ in range(2 * POOL_SIZE)]
    try:
        backends = {scalar(conn, "SELECT pg_backend_pid()") for conn in clients for _ in range(3)}
        assert len(backends) <= POOL_SIZE < len(clients)
        # A session-level SET by one client lands on a shared server connection: others see it.
        scalar(clients[0], "SELECT set_config('statement_timeout', '4321ms', false)")
        seen = {scalar(conn, "SHOW statement_timeout") for conn in clients[1:] for _ in range(3)}
        assert "4321ms" in seen, seen
    finally:
        for conn in clients:
            conn.close()


@BOTH_SESSION_STORES
def test_the_app_sends_no_session_setting_and_the_pool_bounds_statements(app):
    with app.app_context():
        assert db.session.scalar(text("SHOW statement_timeout")) == f"{SERVER_STATEMENT_TIMEOUT_MS}ms"
        with pytest.raises(Exception, match="statement timeout"):
            db.session.execute(text("SELECT pg_sleep(:s)"), {"s": SERVER_STATEMENT_TIMEOUT_MS / 1000 + 0.2})
        db.session.rollback()
        db.session.remove()
    connect_args = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert "statement=" in connect_args["connection_factory"].__name__  # the client-side bound stays


# --- Sessions, selections, propagation --------------------------------------------------------


@BOTH_SESSION_STORES
def test_sign_in_select_and_read_back_from_a_second_instance(stack_settings, app, make: Factories, browser):
    owner = make.user()
    deal = make.deal(owner)
    alice = signed_in(browser, owner.email)
    assert alice.post(f"/api/deals/{deal.id}/select").status_code == 200
    second = stack_settings.make_app()
    same_browser = browser(second)
    same_browser.client.set_cookie("dealdesk_session", alice.session_id())
    assert same_browser.current_deal_id() == deal.id
    assert signed_in(browser, owner.email, on=second).current_deal_id() == deal.id, "restored on a new sign-in"
    assert last_deal_id(second, owner.id) == deal.id


@BOTH_SESSION_STORES
def test_concurrent_selections_on_one_session_lose_nothing(stack_settings, app, make: Factories, browser):
    owner = make.user()
    deals = [make.deal(owner).id for _ in range(SELECTORS + 1)]
    served = stack_settings.make_app()
    user = signed_in(browser, owner.email, on=served)
    sid = user.session_id()
    headers = {"Cookie": f"dealdesk_session={sid}", "X-CSRFToken": user.csrf}
    with live_server(served) as address, Crowd(address, SELECTORS + 1, headers) as crowd:
        for round_no in range(RACE_ROUNDS):
            chosen = [deals[(round_no + i) % len(deals)] for i in range(SELECTORS)]
            calls = [Call("POST", f"/api/deals/{deal}/select") for deal in chosen] + [Call("GET", "/api/me")]
            answers = crowd.round(calls)
            assert [a.status for a in answers] == [200] * len(calls), [a.body[:200] for a in answers]
            durable = last_deal_id(served, owner.id)
            context = (stored_session(served, sid) or {}).get("deal_ctx") or {}
            assert durable in chosen
            assert context.get("deal_id") == durable, f"round {round_no}: session {context}, users row {durable}"


@BOTH_SESSION_STORES
def test_revoking_a_session_signs_it_out_on_the_other_instance(stack_settings, app, make: Factories, browser):
    user = make.user()
    second = stack_settings.make_app()
    laptop = signed_in(browser, user.email)
    phone = signed_in(browser, user.email, on=second)
    phone_hash = hash_session_id(phone.session_id())
    [phone_row] = [row for row in index_rows(app, user.id) if row.sid_hash == phone_hash]
    assert laptop.delete(f"/api/sessions/{phone_row.public_id}").status_code == 204
    assert phone.get("/api/me").status_code == 401
    assert laptop.get("/api/me").status_code == 200


@BOTH_SESSION_STORES
def test_a_removed_member_loses_the_deal_on_the_other_instance(stack_settings, app, make: Factories, browser):
    owner = make.user()
    deal = make.deal(owner)
    viewer = make.viewer(deal)
    second = stack_settings.make_app()
    bob: ApiClient = signed_in(browser, owner.email)
    dave: ApiClient = signed_in(browser, viewer.email, on=second)
    assert dave.post(f"/api/deals/{deal.id}/select").status_code == 200
    assert bob.delete(f"/api/deals/{deal.id}/members/{viewer.id}").status_code == 204
    assert dave.get("/api/me").get_json()["current_deal"] is None
    assert last_deal_id(second, viewer.id) is None


# --- The job lock ------------------------------------------------------------------------------


@SQL_SESSIONS
def test_two_schedulers_run_a_tick_once(stack_settings, app):
    others = [stack_settings.make_app() for _ in range(2)]
    started = threading.Barrier(len(others))
    calls: list[int] = []

    def probe() -> int:
        calls.append(1)
        threading.Event().wait(0.3)  # long enough that the other finds the lock held
        return 1

    spec = JobSpec("pgbouncer_probe", probe, "PGBOUNCER_PROBE_CRON", "test probe")
    results: list[str] = []

    def scheduler(instance: Flask) -> None:
        started.wait(timeout=10)
        results.append(run_job(instance, spec).status)

    threads = [threading.Thread(target=scheduler, args=(instance,)) for instance in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["skipped", "success"]
    assert len(calls) == 1


@SQL_SESSIONS
def test_the_lock_is_held_by_an_open_transaction_and_ends_with_it(app, pgbouncer, postgres_url):
    with app.app_context():
        holder, rival = AdvisoryLock(db.engine, "pgbouncer_lock"), AdvisoryLock(db.engine, "pgbouncer_lock")
        assert holder.acquire()
        try:
            assert rival.acquire() is False
        finally:
            holder.release()
        assert rival.acquire(), "released when the holder's transaction ended"
        rival.release()
    watcher = raw_client(pgbouncer, postgres_url)
    try:
        held = scalar(
            watcher,
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()",
        )
        assert held == 0, "nothing is left on a server connection after the run"
    finally:
        watcher.close()


def test_a_session_level_advisory_lock_would_be_shared_through_the_pool(postgres_url):
    """The old lock: with one server connection, a second client "takes" a lock the first one holds."""
    with running_pgbouncer(postgres_url, pool_size=1) as single:
        first, second = raw_client(single, postgres_url), raw_client(single, postgres_url)
        key = advisory_key("old_behaviour")
        try:
            assert scalar(first, "SELECT pg_try_advisory_lock(%s)", key) is True
            assert scalar(second, "SELECT pg_try_advisory_lock(%s)", key) is True, "two holders at once"
        finally:
            scalar(first, "SELECT pg_advisory_unlock_all()")
            first.close()
            second.close()


def test_a_missing_pgbouncer_skips_with_the_reason(monkeypatch, postgres_url):
    """Skipped by hand with the reason (failed under CI=true, by require_server), never an error."""
    monkeypatch.setattr("tests.support.pgbouncer.pgbouncer_binary", lambda: None)
    outcomes = (pytest.skip.Exception, pytest.fail.Exception)
    with pytest.raises(outcomes, match=r"pgbouncer unreachable: .*not installed"), running_pgbouncer(postgres_url):
        pass


# --- A frozen PostgreSQL behind the pool ----------------------------------------------------------


def connect_while_silent(database_url: str, pooler: str) -> bool:
    """Mark the connection's server silent, connect (no statement): is it still silent afterwards?"""
    url = make_url(database_url)
    server = f"{url.host}:{url.port}"
    install_wait_callback()
    args = postgres_connect_args(connect_seconds=2, statement_seconds=1, pooler=pooler)
    silent_servers.went_silent(server)
    conn = None
    try:
        conn = psycopg2.connect(host=url.host, port=url.port, dbname=url.database, **args)
        # This server only: an earlier test in the same worker may have left another one marked silent.
        still_silent = silent_servers.is_silent(server)
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")  # PostgreSQL's own answer ends it either way
        assert not silent_servers.is_silent(server)
        return still_silent
    finally:
        silent_servers.answered(server)
        if conn is not None:
            conn.close()


def test_a_login_answered_by_pgbouncer_does_not_end_a_silence(pgbouncer, postgres_url):
    """PgBouncer logs clients in itself, also while PostgreSQL is frozen: only a statement's answer counts."""
    assert connect_while_silent(pgbouncer.url_for(postgres_url), "pgbouncer") is True
    assert connect_while_silent(postgres_url, "none") is False, "directly, PostgreSQL itself answered the login"
