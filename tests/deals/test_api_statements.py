"""What each JSON API route costs the database: exact statement counts, so an N+1 or a rebuilt check cannot creep back.

Counted on the app's engine (``QueryLog.app_statements``) with SQL sessions; the session store's own load is counted
apart and not here. The organization has 60 deals by two owners, so a list page of 50 that loads something per deal
would show; the deal has 30 notes by four authors (one of them since deleted), so a note page that looked up its
authors one by one would show too. ``GET /api/deals/current`` is answered through Flask, not the fast path
(``web.deal_context.fast_path``), on an app built with ``CURRENT_DEAL_FAST_PATH`` off.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest
from flask import Flask

from tests.support.clients import ApiClient, signed_in
from tests.support.factories import Factories
from tests.support.queries import QueryLog, counting_queries, counting_redis_round_trips
from tests.support.stacks import BOTH_DATABASES, POSTGRES_REDIS, SQLITE_REDIS, StackSettings
from web.deals.models import MemberRole
from web.extensions import db
from web.identity.models import Role, User

DEALS = 60
NOTES = 30


@dataclass(frozen=True)
class Desk:
    """The admin's browser on an app without the fast path, the deal with the notes, another deal, and a counter."""

    admin: ApiClient
    deal_id: int
    other_deal_id: int
    count: Callable[[], AbstractContextManager[QueryLog]]
    count_redis: Callable[[], AbstractContextManager[list[str]]]
    dialect: str


@pytest.fixture
def desk(stack_settings: StackSettings, app: Flask, browser: Callable[..., ApiClient], make: Factories) -> Desk:
    organization = make.organization()
    admin = make.user(organization, role=Role.ADMIN)
    editor = make.user(organization)
    viewer = make.user(organization)
    leaver = make.user(organization)
    deal = make.deal(admin)
    make.member(deal, editor, role=MemberRole.EDITOR)
    make.member(deal, viewer)
    authors = [admin, editor, viewer, leaver]
    for index in range(NOTES):
        make.note(deal, authors[index % len(authors)])
    with app.app_context():
        # Their notes stay, with no author: still the same statement.
        db.session.delete(db.session.get(User, leaver.id))
        db.session.commit()
        db.session.remove()
        dialect = db.engine.dialect.name
    others = [make.deal(admin if index % 2 else editor) for index in range(DEALS - 1)]
    through_flask = stack_settings.make_app(CURRENT_DEAL_FAST_PATH=False)
    return Desk(
        admin=signed_in(browser, admin.email, on=through_flask),
        deal_id=deal.id,
        other_deal_id=others[0].id,
        count=lambda: counting_queries(through_flask),
        count_redis=lambda: counting_redis_round_trips(through_flask),
        dialect=dialect,
    )


def context_write_statements(desk: Desk) -> int:
    """The statements that write the context and its audit event (``deal_context.service._write_last_deal``).

    PostgreSQL: 1, the UPDATE ... RETURNING with the INSERT in a data-modifying CTE. SQLite: 2, the
    UPDATE ... RETURNING and the INSERT. MariaDB: 3, its UPDATE has no RETURNING, so the new version
    is read back in a SELECT.
    """
    return {"postgresql": 1, "sqlite": 2, "mysql": 3}[desk.dialect]


def steady_statements(desk: Desk, method: str, path: str) -> tuple[list[str], object]:
    """The app's statements for a request after one like it has warmed the session, and the JSON answer."""
    send = getattr(desk.admin, method)
    send(path)
    with desk.count() as log:
        response = send(path)
    assert response.status_code == 200, response.get_json()
    return log.app_statements, response.get_json()


@BOTH_DATABASES
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # The user and the current deal come from the session.
        ("/api/me", 0),
        # The deal, with the visibility check in the same statement.
        ("/api/deals/{deal_id}", 1),
        # The first 50 of 60 deals and their total (a window count).
        ("/api/deals", 1),
        # The visibility check, the note total and 30 notes with their authors' emails.
        ("/api/deals/{deal_id}/notes", 1),
        # The user's sessions from the session index.
        ("/api/sessions", 1),
        # The admin check and the organization's people.
        ("/api/users", 2),
    ],
)
def test_read_statement_count(desk: Desk, path: str, expected: int) -> None:
    statements, _body = steady_statements(desk, "get", path.format(deal_id=desk.deal_id))
    assert len(statements) == expected, statements


@BOTH_DATABASES
def test_pages_are_full_so_a_query_per_row_would_show(desk: Desk) -> None:
    _statements, deals = steady_statements(desk, "get", "/api/deals")
    assert (len(deals["deals"]), deals["total"]) == (50, DEALS)
    assert len({deal["owner_id"] for deal in deals["deals"]}) == 2
    _statements, notes = steady_statements(desk, "get", f"/api/deals/{desk.deal_id}/notes")
    assert (len(notes["notes"]), notes["total"]) == (NOTES, NOTES)
    assert len({note["author"]["email"] if note["author"] else None for note in notes["notes"]}) == 4


@BOTH_DATABASES
def test_deal_list_past_its_end_counts_the_deals_apart(desk: Desk) -> None:
    statements, body = steady_statements(desk, "get", f"/api/deals?offset={DEALS}")
    assert body == {"deals": [], "total": DEALS}
    assert len(statements) == 2, statements


@BOTH_DATABASES
def test_note_page_past_its_end_is_still_one_statement(desk: Desk) -> None:
    statements, body = steady_statements(desk, "get", f"/api/deals/{desk.deal_id}/notes?offset={NOTES}")
    assert body == {"notes": [], "total": NOTES}
    assert len(statements) == 1, statements


@BOTH_DATABASES
def test_notes_of_a_hidden_deal_are_one_statement_to_refuse(desk: Desk, make: Factories) -> None:
    hidden = make.deal(make.user())
    with desk.count() as log:
        response = desk.admin.get(f"/api/deals/{hidden.id}/notes")
    assert response.status_code == 404
    assert len(log.app_statements) == 1, log.app_statements


@BOTH_DATABASES
def test_current_deal_through_flask_reads_the_session_only(desk: Desk) -> None:
    assert desk.admin.post(f"/api/deals/{desk.deal_id}/select").status_code == 200
    statements, body = steady_statements(desk, "get", "/api/deals/current")
    assert body["current_deal"]["id"] == desk.deal_id
    assert statements == []


@BOTH_DATABASES
def test_select_is_the_context_write_the_deal_and_the_session_write(desk: Desk) -> None:
    """The context write with its audit event, then the deal with its visibility check; and the SQL session's
    load and its update conditional on the bytes loaded, in the same transaction."""
    assert desk.admin.post(f"/api/deals/{desk.other_deal_id}/select").status_code == 200
    with desk.count() as log:
        response = desk.admin.post(f"/api/deals/{desk.deal_id}/select")
    assert response.status_code == 200
    # The store: the session's load, then one UPDATE ... WHERE data = <the bytes loaded> in the app's transaction
    # (SqlMergingSessionInterface.merge_into_store, .joining), tagged as the store's: no second read.
    assert len(log.app_statements) == context_write_statements(desk) + 1, log.app_statements
    assert len(log.store_statements) == 2, log.store_statements
    assert "sessions.data =" in log.store_statements[1]


@BOTH_DATABASES
def test_clear_is_the_context_write_and_the_session_write(desk: Desk) -> None:
    """The context write and the audit event; and the SQL session's load and conditional update."""
    assert desk.admin.post(f"/api/deals/{desk.deal_id}/select").status_code == 200
    with desk.count() as log:
        response = desk.admin.delete("/api/deals/current")
    assert response.status_code == 200
    assert len(log.app_statements) == context_write_statements(desk), log.app_statements
    assert len(log.store_statements) == 2, log.store_statements


REDIS_SESSIONS = pytest.mark.parametrize("stack", [SQLITE_REDIS, POSTGRES_REDIS], indirect=True, ids=lambda s: s.id)


@REDIS_SESSIONS
def test_select_is_one_redis_round_trip_after_the_session_read(desk: Desk) -> None:
    """The session's read (GET and PTTL in one pipeline), then the merged context written by compare-and-set
    (``RedisMergingSessionInterface.merge_into_store``): no WATCH, no second read."""
    assert desk.admin.post(f"/api/deals/{desk.other_deal_id}/select").status_code == 200
    with desk.count_redis() as round_trips:
        response = desk.admin.post(f"/api/deals/{desk.deal_id}/select")
    assert response.status_code == 200
    assert round_trips == ["GET PTTL", "EVALSHA"], round_trips


@REDIS_SESSIONS
def test_warm_read_is_one_redis_round_trip(desk: Desk) -> None:
    assert desk.admin.post(f"/api/deals/{desk.deal_id}/select").status_code == 200
    desk.admin.get("/api/deals/current")
    with desk.count_redis() as round_trips:
        assert desk.admin.get("/api/deals/current").status_code == 200
    assert round_trips == ["GET PTTL"], round_trips
