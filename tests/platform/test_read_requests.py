"""Safe requests read outside a transaction on PostgreSQL, and write in one (``web.platform.read_requests``).

What is checked is what psycopg2 is asked to do, statement by statement: whether the connection is in
autocommit mode and whether a transaction is open on it when each statement is sent. A GET's reads
run with no transaction (no ``BEGIN`` round trip before them, no ``ROLLBACK`` after); the writes a GET
makes (the restore of a cold session) and every statement of a POST run in a transaction; a write
that a GET sends without ``begin_writing`` is refused before it reaches the server; the connection
goes back to the pool in transaction mode. On SQLite and MariaDB nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, request
from sqlalchemy import event, select, update

from tests.support.clients import ApiClient, signed_in
from tests.support.factories import Factories
from tests.support.queries import autocommit_at_checkin, statements_sent
from tests.support.stacks import MARIADB_REDIS, POSTGRES_REDIS, POSTGRES_SQL, SQLITE_SQL
from tests.support.state import rewrite_stored_session
from web.deals.models import Deal
from web.extensions import db
from web.identity.models import User
from web.platform.models import utcnow
from web.platform.read_requests import begin_writing, end_autocommit

ON_POSTGRES = pytest.mark.parametrize("stack", [POSTGRES_REDIS, POSTGRES_SQL], indirect=True, ids=lambda s: s.id)
ELSEWHERE = pytest.mark.parametrize("stack", [SQLITE_SQL, MARIADB_REDIS], indirect=True, ids=lambda s: s.id)


@pytest.fixture
def alice(browser: Callable[..., ApiClient], make: Factories) -> tuple[ApiClient, int, int]:
    organization = make.organization()
    user = make.user(organization, email="alice@reads.test")
    deal = make.deal(user)
    client = signed_in(browser, "alice@reads.test")
    # Session-store changes this process may owe from an earlier test (a store that failed and came back marks
    # them, web.platform.session_store.base) are settled by the next request, in a transaction of their own:
    # that request is this one, not the ones the tests look at.
    assert client.get("/api/csrf").status_code == 200
    return client, user.id, deal.id


@ON_POSTGRES
def test_a_get_reads_with_no_transaction_and_gives_the_connection_back_in_transaction_mode(
    app: Flask, alice: tuple[ApiClient, int, int]
) -> None:
    client, _user_id, deal_id = alice
    with statements_sent(app) as sent, autocommit_at_checkin(app) as returned:
        assert client.get(f"/api/deals/{deal_id}").status_code == 200
        assert client.get(f"/deals/{deal_id}").status_code == 200
    assert sent and all(each.verb in ("SELECT", "WITH") for each in sent)
    assert all(each.reading_engine and each.autocommit and not each.in_transaction for each in sent), sent
    assert returned and not any(returned)


@ON_POSTGRES
def test_a_post_still_runs_in_a_transaction(app: Flask, alice: tuple[ApiClient, int, int]) -> None:
    client, _user_id, deal_id = alice
    with statements_sent(app) as sent:
        assert client.post(f"/api/deals/{deal_id}/select").status_code == 200
    assert sent and not any(each.autocommit for each in sent), sent
    assert all(each.in_transaction for each in sent[1:])  # psycopg2 sends BEGIN before the first


@ON_POSTGRES
def test_a_connection_put_back_in_autocommit_mode_leaves_the_pool_in_transaction_mode(
    app: Flask, alice: tuple[ApiClient, int, int]
) -> None:
    """Whatever returned a connection to the pool in autocommit mode, a writer gets it in transaction mode
    (the pool's ``checkout``), so its statements are never committed one by one."""
    client, _user_id, deal_id = alice
    with app.app_context():
        engine = db.engine
    event.remove(engine.pool, "checkin", end_autocommit)  # nothing turns them back at checkin now
    connections = [engine.raw_connection() for _ in range(max(1, engine.pool.checkedin()))]
    for connection in connections:
        connection.dbapi_connection.autocommit = True
        connection.close()  # back in the pool in autocommit mode
    with statements_sent(app) as sent:
        assert client.post(f"/api/deals/{deal_id}/select").status_code == 200
    assert sent and not any(each.autocommit for each in sent), sent
    assert all(each.in_transaction for each in sent[1:])


@ON_POSTGRES
def test_the_restore_of_a_cold_session_on_a_get_writes_in_one_transaction(
    app: Flask, alice: tuple[ApiClient, int, int]
) -> None:
    client, user_id, deal_id = alice
    assert client.post(f"/api/deals/{deal_id}/select").status_code == 200
    with app.app_context():  # out of sight behind the app's back: the restore is denied, two writes
        db.session.execute(update(Deal).where(Deal.id == deal_id).values(deleted_at=utcnow()))
        db.session.commit()
    rewrite_stored_session(app, client.session_id(), lambda data: data.pop("deal_ctx"))  # a cold session
    with statements_sent(app) as sent, autocommit_at_checkin(app) as returned:
        assert client.get("/api/csrf").status_code == 200
    assert [each.verb for each in sent] == ["INSERT", "UPDATE"]
    assert not any(each.reading_engine or each.autocommit for each in sent), sent
    assert sent[1].in_transaction  # the UPDATE joins the INSERT's transaction
    assert returned and not any(returned)
    with app.app_context():
        assert db.session.scalar(select(User.last_deal_id).where(User.id == user_id)) is None


@pytest.fixture
def renaming_routes(app: Flask) -> None:
    """Two GET routes that rename the user named by ``?id=``: one declares the write, one does not.
    Added before the app answers anything (Flask refuses new routes after its first request)."""

    def rename(*, declared: bool) -> str:
        if declared:
            begin_writing(db.session)
        user_id = int(request.args["id"])
        db.session.execute(update(User).where(User.id == user_id).values(email="renamed@reads.test"))
        db.session.commit()
        return "renamed"

    app.add_url_rule("/test-write-undeclared", "undeclared", lambda: rename(declared=False))
    app.add_url_rule("/test-write-declared", "declared", lambda: rename(declared=True))


@ON_POSTGRES
def test_a_get_that_writes_without_begin_writing_is_refused_and_changes_nothing(
    app: Flask, renaming_routes: None, alice: tuple[ApiClient, int, int]
) -> None:
    client, user_id, _deal_id = alice
    # A 500 (web.errors logs the WriteOutsideTransaction), before the UPDATE reached the server.
    assert client.get(f"/test-write-undeclared?id={user_id}").status_code == 500
    with app.app_context():
        assert db.session.scalar(select(User.email).where(User.id == user_id)) == "alice@reads.test"
    assert client.get(f"/test-write-declared?id={user_id}").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(User.email).where(User.id == user_id)) == "renamed@reads.test"


@ELSEWHERE
def test_elsewhere_a_get_runs_as_before(app: Flask, alice: tuple[ApiClient, int, int]) -> None:
    client, _user_id, deal_id = alice
    with statements_sent(app) as sent:
        assert client.get(f"/api/deals/{deal_id}").status_code == 200
    assert sent and not any(each.reading_engine or each.autocommit for each in sent)
