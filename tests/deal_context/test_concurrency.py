"""Many requests at once on ONE session, through a real threaded server.

Each round fires selectors of distinct deals, readers and writers of other keys
together on one session cookie; after the round, the stored session's deal must be
``users.last_deal_id`` with the newest version, and every key written in the round
must be there. The same workload on stock Flask-Session 0.8 (a separate minimal app)
is run too and must lose something, so the difference is measured, not assumed.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, session
from sqlalchemy import func, select

from tests.support.concurrency import (
    PLAIN_COOKIE,
    Call,
    Crowd,
    close_plain_app,
    drop_plain_table,
    live_server,
    make_plain_app,
    plain_stored_session,
)
from tests.support.state import stored_session
from web.extensions import db
from web.identity.models import User, UserSession
from web.platform.session_store.base import hash_session_id

log = logging.getLogger(__name__)

ROUNDS = 200
DESTROY_ROUNDS = 8
SELECTORS = 3  # distinct deals per round
READERS = 2
MARKS = ("a", "b")  # one writer of another key each
CROWD = SELECTORS + READERS + len(MARKS) + 1
# All visible to alice, an admin of Acme.
DEAL_NAMES = ("northwind", "contoso", "fabrikam", "tailspin", "woodgrove")
DEALDESK_PATHS = {
    "select": "/api/deals/{deal}/select",
    "current": "/api/deals/current",
    "mark": "/api/_test/mark/{name}/{value}",
}
# Touch (and so extend the expiry and update "last seen") on most requests: the busiest path.
TOUCH_INTERVAL = 0.25


def mark_blueprint() -> Blueprint:
    """A route that writes a session key other than the deal context (no such route in the app)."""
    bp = Blueprint("concurrency_marks", __name__)

    @bp.post("/api/_test/mark/<name>/<int:value>")
    def mark(name: str, value: int) -> Response:
        session[f"mark_{name}"] = value
        return Response(status=204)

    return bp


def context_row(app: Flask, user_id: int) -> tuple[int | None, int]:
    with app.app_context():
        row = db.session.execute(select(User.last_deal_id, User.deal_context_version).where(User.id == user_id)).one()
        db.session.remove()
    return row.last_deal_id, row.deal_context_version


def index_rows_for(app: Flask, sid: str) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.sid_hash == hash_session_id(sid))
        )
        db.session.remove()
    return int(count or 0)


@dataclass
class Tally:
    rounds: int = 0
    lost_selection_rounds: int = 0
    lost_key_rounds: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def lossy_rounds(self) -> int:
        return len({f.split(":")[0] for f in self.failures})


def round_calls(round_no: int, deals: list[int], paths: dict[str, str]) -> list[Call]:
    chosen = [deals[(round_no + i) % len(deals)] for i in range(SELECTORS)]
    calls = [Call("POST", paths["select"].format(deal=deal)) for deal in chosen]
    calls += [Call("GET", paths["current"]) for _ in range(READERS)]
    calls += [Call("POST", paths["mark"].format(name=name, value=round_no)) for name in MARKS]
    random.shuffle(calls)
    return calls


def run_rounds(
    crowd: Crowd,
    *,
    rounds: int,
    deals: list[int],
    paths: dict[str, str],
    read_session: Callable[[], dict[str, Any] | None],
    read_context: Callable[[], tuple[int | None, int]],
    fail_fast: bool,
) -> Tally:
    """Run the rounds; after each, compare the stored session with the users row and the marks."""
    tally = Tally()
    _, version_before = read_context()
    for round_no in range(rounds):
        answers = crowd.round(round_calls(round_no, deals, paths))
        errors = [(a.call.path, a.status, a.body[:200]) for a in answers if a.status not in (200, 204)]
        assert not errors, f"round {round_no}: {errors}"
        stored = read_session() or {}
        last_deal, version = read_context()
        assert version == version_before + SELECTORS, "every selection bumps the version once"
        version_before = version
        tally.rounds += 1
        context = stored.get("deal_ctx") or {}
        cached_id = (context.get("deal") or {}).get("id", context.get("deal_id"))
        if (context.get("deal_id"), context.get("version"), cached_id) != (last_deal, version, last_deal):
            tally.lost_selection_rounds += 1
            tally.failures.append(f"{round_no}: session deal {context}, users row ({last_deal}, v{version})")
        lost = {name: stored.get(f"mark_{name}") for name in MARKS if stored.get(f"mark_{name}") != round_no}
        if lost:
            tally.lost_key_rounds += 1
            tally.failures.append(f"{round_no}: keys written this round hold {lost}")
        if fail_fast:
            assert not tally.failures, tally.failures
    return tally


def test_many_requests_on_one_session_lose_no_selection_and_no_key(stack_settings, app, demo, browser, record_property):
    served = stack_settings.make_app(SESSION_TOUCH_INTERVAL_SECONDS=TOUCH_INTERVAL)
    served.register_blueprint(mark_blueprint())
    api = browser(served)
    api.login("alice@acme.test")
    sid = api.session_id()
    headers = {"Cookie": f"dealdesk_session={sid}", "X-CSRFToken": api.csrf}
    with live_server(served) as address, Crowd(address, CROWD, headers) as crowd:
        tally = run_rounds(
            crowd,
            rounds=ROUNDS,
            deals=[demo[name] for name in DEAL_NAMES],
            paths=DEALDESK_PATHS,
            read_session=lambda: stored_session(served, sid),
            read_context=lambda: context_row(served, demo["alice"]),
            fail_fast=True,
        )
        [answer] = crowd.round([Call("GET", "/api/deals/current")])
    last_deal, _ = context_row(served, demo["alice"])
    assert answer.status == 200
    assert f'"id":{last_deal}'.encode() in answer.body.replace(b" ", b"")
    stored = stored_session(served, sid) or {}
    assert stored.get("_user_id") == str(demo["alice"]), "the signed-in keys survived every round"
    assert tally.rounds == ROUNDS
    record_property("rounds", tally.rounds)
    record_property("lost_rounds", tally.lossy_rounds)
    log.warning("DealDesk sessions on %s: %s rounds, 0 lost", stack_settings.stack.id, tally.rounds)


def test_plain_flask_session_loses_updates_under_the_same_load(stack_settings, app, demo, record_property):
    """Stock Flask-Session writes each request's whole copy back: the slower request wins."""
    stack = stack_settings.stack
    plain = make_plain_app(
        database_url=stack_settings.config["SQLALCHEMY_DATABASE_URI"],
        backend=stack.sessions,
        redis_url=stack_settings.config.get("REDIS_URL"),
        key_prefix=f"{stack_settings.config['SESSION_KEY_PREFIX']}plain:{uuid.uuid4().hex[:6]}:",
    )
    try:
        client = plain.test_client()
        assert client.post(f"/login/{demo['alice']}").status_code == 204
        sid = client.get_cookie(PLAIN_COOKIE).value
        with live_server(plain) as address, Crowd(address, CROWD, {"Cookie": f"{PLAIN_COOKIE}={sid}"}) as crowd:
            tally = run_rounds(
                crowd,
                rounds=ROUNDS,
                deals=[demo[name] for name in DEAL_NAMES],
                paths={"select": "/select/{deal}", "current": "/current", "mark": "/mark/{name}/{value}"},
                read_session=lambda: plain_stored_session(plain, sid),
                read_context=lambda: context_row(app, demo["alice"]),
                fail_fast=False,
            )
    finally:
        drop_plain_table(plain)
        close_plain_app(plain)
    record_property("rounds", tally.rounds)
    record_property("lost_rounds", tally.lossy_rounds)
    record_property("lost_selection_rounds", tally.lost_selection_rounds)
    record_property("lost_key_rounds", tally.lost_key_rounds)
    log.warning(
        "plain Flask-Session on %s: %s rounds, %s with a loss (selection %s, other key %s); first: %s",
        stack.id,
        tally.rounds,
        tally.lossy_rounds,
        tally.lost_selection_rounds,
        tally.lost_key_rounds,
        tally.failures[:3],
    )
    assert tally.lossy_rounds >= 1, "stock Flask-Session was expected to lose at least one update"


def test_a_destroyed_session_is_never_brought_back_by_requests_in_flight(stack_settings, app, demo, browser):
    """Sign-out (even rounds) or revocation from another browser (odd rounds) amid a crowd of requests."""
    served = stack_settings.make_app(SESSION_TOUCH_INTERVAL_SECONDS=TOUCH_INTERVAL)
    served.register_blueprint(mark_blueprint())
    deals = [demo[name] for name in DEAL_NAMES]
    revoker = browser(served)
    revoker.login("alice@acme.test")
    revoke = Call(
        "POST",
        "/api/sessions/revoke-others",
        (("Cookie", f"dealdesk_session={revoker.session_id()}"), ("X-CSRFToken", revoker.csrf)),
    )
    with live_server(served) as address:
        for round_no in range(DESTROY_ROUNDS):
            victim = browser(served)
            victim.login("alice@acme.test")
            sid = victim.session_id()
            calls = round_calls(round_no, deals, DEALDESK_PATHS)[: CROWD - 2]
            calls.append(Call("POST", "/api/auth/logout") if round_no % 2 == 0 else revoke)
            random.shuffle(calls)
            headers = {"Cookie": f"dealdesk_session={sid}", "X-CSRFToken": victim.csrf}
            with Crowd(address, len(calls), headers) as crowd:
                answers = crowd.round(calls)
            # Requests that arrive after the end find no session: 401, or 400 for the CSRF check.
            assert all(a.status in (200, 204, 400, 401) for a in answers), [(a.call.path, a.status) for a in answers]
            assert stored_session(served, sid) is None, f"round {round_no}: the session came back"
            assert index_rows_for(served, sid) == 0
            assert victim.get("/api/me").status_code == 401
    assert revoker.get("/api/me").status_code == 200
