"""Two stores, one truth: every write that touches the database and the session store, failed at every I/O step.

For each write, a clean run counts its I/O steps (SQL statements, COMMITs, Redis round trips:
``tests.support.faults``); then, for every step k, a fresh little world of its own runs the
write with step k failing, and the rule of specs/04 is checked:

* the answer is a 2xx or a 4xx/503, never a 500;
* a 2xx means the change is in the database *and* in the caller's session;
* anything else means nothing changed, or a retry reaches the same end state;
* once the store answers again, no session outlives a revocation the database recorded, and a
  session's deal context and role are the database's (checked after one request by a bystander:
  the process applies what the store still owes before it serves anyone).

Runs on every stack (SQLite/PostgreSQL x SQL/Redis sessions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.support.clients import ApiClient
from tests.support.factories import DEFAULT_PASSWORD, Factories
from tests.support.faults import FaultPlan, injecting
from tests.support.state import index_rows, last_deal_id
from web.deals.models import Deal, DealMember
from web.extensions import db
from web.identity.models import Role, User
from web.platform.session_store.base import hash_session_id

NEW_PASSWORD = "a-new-and-long-passphrase"


@dataclass
class World:
    app: Flask
    make: Factories
    bystander: ApiClient

    def client(self) -> ApiClient:
        return ApiClient(self.app.test_client())

    def signed_in(self, user: User) -> ApiClient:
        client = self.client()
        client.login(user.email)
        client.csrf  # noqa: B018  fetched now: the write under test starts with a page that has its token
        return client

    def read(self, query: Any) -> Any:
        with self.app.app_context():
            value = db.session.execute(query).first()
            db.session.remove()
        return value


@dataclass
class Case:
    """One write. ``arrange`` builds its own world and returns what the checks need."""

    name: str
    arrange: Callable[[World], dict[str, Any]]
    act: Callable[[dict[str, Any]], TestResponse]
    # Nothing of the change is anywhere / the change is everywhere it belongs.
    untouched: Callable[[World, dict[str, Any]], bool]
    done: Callable[[World, dict[str, Any]], bool]
    # What must hold whatever the outcome, once the store answers again (asserts).
    consistent: Callable[[World, dict[str, Any]], None] = field(default=lambda world, ctx: None)


# --- Reading the truth ------------------------------------------------------------------------------


def signed_in_as(client: ApiClient) -> dict[str, Any] | None:
    response = client.get("/api/me")
    if response.status_code == 401:
        return None
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def current_deal(client: ApiClient) -> int | None:
    me = signed_in_as(client)
    assert me is not None, "the session was expected to be signed in"
    return me["current_deal"]["id"] if me["current_deal"] else None


def user_row(world: World, user_id: int) -> Any:
    return world.read(select(User.is_active, User.role, User.password_hash).where(User.id == user_id))


def context_agrees(world: World, client: ApiClient, user_id: int) -> None:
    """The session shows the deal ``users.last_deal_id`` holds (both read after the store is back)."""
    assert current_deal(client) == last_deal_id(world.app, user_id)


def indexed(world: World, user_id: int, client: ApiClient) -> bool:
    sid = client.session_id()
    return sid is not None and any(row.sid_hash == hash_session_id(sid) for row in index_rows(world.app, user_id))


# --- The writes ------------------------------------------------------------------------------------------


def arrange_sign_in(world: World) -> dict[str, Any]:
    user = world.make.user()
    deal = world.make.deal(user)
    with world.app.app_context():
        db.session.execute(User.__table__.update().where(User.id == user.id).values(last_deal_id=deal.id))
        db.session.commit()
        db.session.remove()
    client = world.client()
    client.csrf  # noqa: B018  the token is fetched before the faults start, as a sign-in form has it
    return {"user": user, "deal": deal, "client": client}


def sign_in_consistent(world: World, ctx: dict[str, Any]) -> None:
    # A browser that holds a working session holds an indexed one: never an unrevokable session.
    if signed_in_as(ctx["client"]) is not None:
        assert indexed(world, ctx["user"].id, ctx["client"])
        assert current_deal(ctx["client"]) == ctx["deal"].id


SIGN_IN = Case(
    "sign_in",
    arrange_sign_in,
    act=lambda ctx: ctx["client"].post(
        "/api/auth/login", json={"email": ctx["user"].email, "password": DEFAULT_PASSWORD}
    ),
    untouched=lambda world, ctx: signed_in_as(ctx["client"]) is None,
    done=lambda world, ctx: signed_in_as(ctx["client"]) is not None and indexed(world, ctx["user"].id, ctx["client"]),
    consistent=sign_in_consistent,
)


def arrange_signed_in(world: World) -> dict[str, Any]:
    user = world.make.user()
    return {"user": user, "client": world.signed_in(user)}


SIGN_OUT = Case(
    "sign_out",
    arrange_signed_in,
    act=lambda ctx: ctx["client"].post("/api/auth/logout"),
    untouched=lambda world, ctx: signed_in_as(ctx["client"]) is not None,
    done=lambda world, ctx: signed_in_as(ctx["client"]) is None,
)


def arrange_selection(world: World) -> dict[str, Any]:
    user = world.make.user()
    first, second = world.make.deal(user), world.make.deal(user)
    client = world.signed_in(user)
    assert client.post(f"/api/deals/{first.id}/select").status_code == 200
    return {"user": user, "client": client, "first": first.id, "second": second.id}


def selection_consistent(world: World, ctx: dict[str, Any]) -> None:
    context_agrees(world, ctx["client"], ctx["user"].id)


SELECT = Case(
    "select",
    arrange_selection,
    act=lambda ctx: ctx["client"].post(f"/api/deals/{ctx['second']}/select"),
    untouched=lambda world, ctx: (
        last_deal_id(world.app, ctx["user"].id) == ctx["first"] and current_deal(ctx["client"]) == ctx["first"]
    ),
    done=lambda world, ctx: (
        last_deal_id(world.app, ctx["user"].id) == ctx["second"] and current_deal(ctx["client"]) == ctx["second"]
    ),
    consistent=selection_consistent,
)

CLEAR = Case(
    "clear",
    arrange_selection,
    act=lambda ctx: ctx["client"].delete("/api/deals/current"),
    untouched=lambda world, ctx: (
        last_deal_id(world.app, ctx["user"].id) == ctx["first"] and current_deal(ctx["client"]) == ctx["first"]
    ),
    done=lambda world, ctx: last_deal_id(world.app, ctx["user"].id) is None and current_deal(ctx["client"]) is None,
    consistent=selection_consistent,
)


def arrange_admin_and_target(world: World) -> dict[str, Any]:
    organization = world.make.organization()
    admin = world.make.user(organization, role=Role.ADMIN)
    target = world.make.user(organization, role=Role.ADMIN)
    deal = world.make.deal(admin)  # visible to the target only as an admin
    target_client = world.signed_in(target)
    assert target_client.post(f"/api/deals/{deal.id}/select").status_code == 200
    return {
        "admin": world.signed_in(admin),
        "target": target,
        "target_client": target_client,
        "deal": deal.id,
    }


def deactivation_consistent(world: World, ctx: dict[str, Any]) -> None:
    if not user_row(world, ctx["target"].id).is_active:
        assert signed_in_as(ctx["target_client"]) is None, "a session outlived the deactivation"


DEACTIVATE = Case(
    "deactivate",
    arrange_admin_and_target,
    act=lambda ctx: ctx["admin"].patch(f"/api/users/{ctx['target'].id}", json={"is_active": False}),
    untouched=lambda world, ctx: (
        user_row(world, ctx["target"].id).is_active and signed_in_as(ctx["target_client"]) is not None
    ),
    done=lambda world, ctx: (
        not user_row(world, ctx["target"].id).is_active and signed_in_as(ctx["target_client"]) is None
    ),
    consistent=deactivation_consistent,
)


def role_consistent(world: World, ctx: dict[str, Any]) -> None:
    me = signed_in_as(ctx["target_client"])
    assert me is not None
    assert me["user"]["role"] == user_row(world, ctx["target"].id).role.value
    context_agrees(world, ctx["target_client"], ctx["target"].id)


ROLE_CHANGE = Case(
    "role_change",
    arrange_admin_and_target,
    act=lambda ctx: ctx["admin"].patch(f"/api/users/{ctx['target'].id}", json={"role": "member"}),
    untouched=lambda world, ctx: (
        user_row(world, ctx["target"].id).role == Role.ADMIN and current_deal(ctx["target_client"]) == ctx["deal"]
    ),
    done=lambda world, ctx: (
        user_row(world, ctx["target"].id).role == Role.MEMBER and current_deal(ctx["target_client"]) is None
    ),
    consistent=role_consistent,
)


def arrange_two_sessions(world: World) -> dict[str, Any]:
    user = world.make.user()
    first, second = world.signed_in(user), world.signed_in(user)
    [_, other_row] = index_rows(world.app, user.id)
    return {"user": user, "client": first, "other": second, "other_public_id": other_row.public_id}


def password_is(world: World, user_id: int, password: str) -> bool:
    try:
        return PasswordHasher().verify(user_row(world, user_id).password_hash, password)
    except VerificationError:
        return False


def password_consistent(world: World, ctx: dict[str, Any]) -> None:
    if password_is(world, ctx["user"].id, NEW_PASSWORD):
        assert signed_in_as(ctx["other"]) is None, "a session outlived the password change"


PASSWORD_CHANGE = Case(
    "password_change",
    arrange_two_sessions,
    act=lambda ctx: ctx["client"].post(
        "/api/auth/password", json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    ),
    untouched=lambda world, ctx: (
        password_is(world, ctx["user"].id, DEFAULT_PASSWORD) and signed_in_as(ctx["other"]) is not None
    ),
    done=lambda world, ctx: (
        password_is(world, ctx["user"].id, NEW_PASSWORD)
        and signed_in_as(ctx["other"]) is None
        and signed_in_as(ctx["client"]) is not None
    ),
    consistent=password_consistent,
)


def revocation_consistent(world: World, ctx: dict[str, Any]) -> None:
    listed = {row["id"] for row in ctx["client"].get("/api/sessions").get_json()["sessions"]}
    if ctx["other_public_id"] not in listed:
        assert signed_in_as(ctx["other"]) is None, "a revoked session still works"


SESSION_REVOKE = Case(
    "session_revoke",
    arrange_two_sessions,
    act=lambda ctx: ctx["client"].delete(f"/api/sessions/{ctx['other_public_id']}"),
    untouched=lambda world, ctx: signed_in_as(ctx["other"]) is not None,
    done=lambda world, ctx: signed_in_as(ctx["other"]) is None and signed_in_as(ctx["client"]) is not None,
    consistent=revocation_consistent,
)


def arrange_deal_and_viewer(world: World) -> dict[str, Any]:
    owner = world.make.user()
    deal = world.make.deal(owner)
    viewer = world.make.viewer(deal)
    viewer_client = world.signed_in(viewer)
    assert viewer_client.post(f"/api/deals/{deal.id}/select").status_code == 200
    return {"owner": world.signed_in(owner), "deal": deal.id, "viewer": viewer, "viewer_client": viewer_client}


def deal_deleted(world: World, deal_id: int) -> bool:
    return world.read(select(Deal.deleted_at).where(Deal.id == deal_id)).deleted_at is not None


def is_member(world: World, deal_id: int, user_id: int) -> bool:
    return (
        world.read(select(DealMember.id).where(DealMember.deal_id == deal_id, DealMember.user_id == user_id))
        is not None
    )


def viewer_consistent(world: World, ctx: dict[str, Any]) -> None:
    context_agrees(world, ctx["viewer_client"], ctx["viewer"].id)


DEAL_DELETE = Case(
    "deal_delete",
    arrange_deal_and_viewer,
    act=lambda ctx: ctx["owner"].delete(f"/api/deals/{ctx['deal']}"),
    untouched=lambda world, ctx: (
        not deal_deleted(world, ctx["deal"]) and current_deal(ctx["viewer_client"]) == ctx["deal"]
    ),
    done=lambda world, ctx: deal_deleted(world, ctx["deal"]) and current_deal(ctx["viewer_client"]) is None,
    consistent=viewer_consistent,
)

MEMBER_REMOVAL = Case(
    "member_removal",
    arrange_deal_and_viewer,
    act=lambda ctx: ctx["owner"].delete(f"/api/deals/{ctx['deal']}/members/{ctx['viewer'].id}"),
    untouched=lambda world, ctx: (
        is_member(world, ctx["deal"], ctx["viewer"].id) and current_deal(ctx["viewer_client"]) == ctx["deal"]
    ),
    done=lambda world, ctx: (
        not is_member(world, ctx["deal"], ctx["viewer"].id) and current_deal(ctx["viewer_client"]) is None
    ),
    consistent=viewer_consistent,
)

CASES = [
    SIGN_IN,
    SIGN_OUT,
    SELECT,
    CLEAR,
    DEACTIVATE,
    ROLE_CHANGE,
    PASSWORD_CHANGE,
    SESSION_REVOKE,
    DEAL_DELETE,
    MEMBER_REMOVAL,
]


# --- The run ----------------------------------------------------------------------------------------------


@pytest.fixture
def world(app: Flask, make: Factories) -> World:
    bystander = ApiClient(app.test_client())
    bystander.login(make.user().email)
    return World(app=app, make=make, bystander=bystander)


def settle(world: World) -> None:
    """One request by someone else once the store answers again: the process settles what it owes first."""
    assert world.bystander.get("/api/me").status_code == 200


def is_success(response: TestResponse) -> bool:
    return 200 <= response.status_code < 300


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_write_failed_at_any_step_keeps_both_stores_in_agreement(world: World, case: Case) -> None:
    ctx = case.arrange(world)
    with injecting(world.app, FaultPlan()) as counted:
        response = case.act(ctx)
    assert is_success(response), response.get_json()
    assert case.done(world, ctx)
    steps = list(counted.steps)
    assert steps, "the write did no I/O"

    for k in range(1, len(steps) + 1):
        ctx = case.arrange(world)
        with injecting(world.app, FaultPlan(fail_at=k)) as plan:
            response = case.act(ctx)
        where = f"{case.name}: step {k} of {len(steps)} ({plan.steps[k - 1] if len(plan.steps) >= k else '-'})"
        assert response.status_code != 500, f"{where}: {response.get_data(as_text=True)}"
        assert is_success(response) or response.status_code in (503, 401, 404, 409), f"{where}: {response.status}"
        settle(world)
        case.consistent(world, ctx)
        if is_success(response):
            assert case.done(world, ctx), f"{where}: answered {response.status_code} but the change is not everywhere"
        elif not case.untouched(world, ctx):
            retry = case.act(ctx)
            assert retry.status_code < 500, f"{where}: the retry answered {retry.status}"
            assert case.done(world, ctx), (
                f"{where}: answered {response.status_code}, changed things, and a retry did not finish them"
            )
            case.consistent(world, ctx)
