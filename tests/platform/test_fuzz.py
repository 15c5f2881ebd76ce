"""Fuzz every described /api operation with schemathesis against a live server (``make fuzz``).

Alice (an Acme admin) is signed in with a real CSRF token; each operation gets
positive and negative examples. Every response must be no 500, conform to the
description, and no request may change anything of the other organization
(Globex), whose rows are snapshot before and compared after.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from tests.support.factories import DEFAULT_PASSWORD
from tests.support.live_server import serve_in_thread
from tests.support.stacks import POSTGRES_REDIS
from web import create_app
from web.audit.models import AuditEvent
from web.deals.models import Deal, DealMember, DealNote
from web.extensions import db
from web.identity.models import Organization, User, UserSession
from web.platform.api_spec import openapi_document

# Examples per operation and generation mode; FUZZ_EXAMPLES overrides (e.g. a longer run by hand).
EXAMPLES = {
    GenerationMode.POSITIVE: int(os.environ.get("FUZZ_EXAMPLES", "200")),
    GenerationMode.NEGATIVE: int(os.environ.get("FUZZ_EXAMPLES", "200")) // 2,
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Operations after which the fuzzing browser may be signed out.
SESSION_ENDING = {("POST", "/api/auth/logout"), ("DELETE", "/api/sessions/{public_id}")}
REQUEST_TIMEOUT = 10
MAX_QUERY_BYTES = 3500


def fuzzing_document(app: Flask) -> dict[str, Any]:
    """The description without the cookie and CSRF header: the test sends the real ones on every request.

    Left in, negative cases would "remove" them and the real ones would be sent anyway.
    (Missing and wrong tokens and cookies are covered by tests/platform/test_openapi.py.)
    """
    document = copy.deepcopy(openapi_document(app))
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["security"] = []
            parameters = [p for p in operation.get("parameters", []) if "$ref" not in p]
            operation.pop("parameters", None)
            if parameters:
                operation["parameters"] = parameters
    return document


def described_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every described operation, read from an app that touches no server."""
    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://", "SESSION_BACKEND": "sqlalchemy"})
    return [(method.upper(), path) for path, ops in openapi_document(app)["paths"].items() for method in ops]


@pytest.fixture
def live_server(stack_settings) -> Iterator[tuple[Flask, str]]:
    """The app served over HTTP on a spare loopback port, in a thread of this process."""
    # Random sign-ins come from one address, and wrong current passwords count against Alice's
    # account (she signs in again after a sign-out): both throttles are lifted.
    app = stack_settings.make_app(
        SIGNIN_LIMIT_PER_IP="1000000 per minute", SIGNIN_LIMIT_PER_ACCOUNT="1000000 per minute"
    )
    with serve_in_thread(app, name="fuzz-server", quiet=True) as url:
        yield app, url


class Browser:
    """A signed-in requests session and its CSRF token."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url, self.email = base_url, email
        self.http = requests.Session()
        self.token = ""
        self.sign_in()

    def sign_in(self) -> None:
        self.http.cookies.clear()
        self.token = self.http.get(f"{self.base_url}/api/csrf", timeout=REQUEST_TIMEOUT).json()["csrf_token"]
        response = self.http.post(
            f"{self.base_url}/api/auth/login",
            json={"email": self.email, "password": DEFAULT_PASSWORD},
            headers={"X-CSRFToken": self.token},
            timeout=REQUEST_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        # Sign-in replaced the token: fetch the new one, as a client must.
        self.token = self.http.get(f"{self.base_url}/api/csrf", timeout=REQUEST_TIMEOUT).json()["csrf_token"]

    def close(self) -> None:
        self.http.close()


def other_organization_rows(app: Flask, organization_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Everything of one organization that another organization's user must never change."""
    with app.app_context():
        users = select(User.id).where(User.organization_id == organization_id)
        deals = select(Deal.id).where(Deal.organization_id == organization_id)
        queries = {
            "organizations": select(Organization).where(Organization.id == organization_id),
            "users": select(User).where(User.organization_id == organization_id),
            "deals": select(Deal).where(Deal.organization_id == organization_id),
            "members": select(DealMember).where(DealMember.deal_id.in_(deals)),
            "notes": select(DealNote).where(DealNote.deal_id.in_(deals)),
            "audit": select(AuditEvent).where(AuditEvent.organization_id == organization_id),
            "sessions": select(UserSession).where(UserSession.user_id.in_(users)),
        }
        snapshot = {}
        for name, query in queries.items():
            rows = db.session.scalars(query).all()
            snapshot[name] = sorted(
                tuple((column.key, repr(getattr(row, column.key))) for column in row.__table__.columns) for row in rows
            )
        db.session.remove()
    return snapshot


def known_values(app: Flask) -> dict[str, list[Any]]:
    """Real ids of both organizations, so fuzzed paths hit existing rows, not only random numbers."""
    with app.app_context():
        values = {
            "deal_id": list(db.session.scalars(select(Deal.id))),
            "user_id": list(db.session.scalars(select(User.id))),
            "public_id": list(db.session.scalars(select(UserSession.public_id))),
        }
        db.session.remove()
    return values


def with_known_path_values(strategy, known: dict[str, list[Any]]):
    """Half of the cases get real ids in their path (positive mode only: negative cases stay negative)."""

    def pick(pair):
        case, choices = pair
        for name, value in choices.items():
            if value is not None and name in (case.path_parameters or {}):
                case.path_parameters[name] = value
        return case

    choices = st.fixed_dictionaries(
        {name: st.one_of(st.none(), st.sampled_from(ids)) for name, ids in known.items() if ids}
    )
    return st.tuples(strategy, choices).map(pick)


@pytest.mark.fuzz
@pytest.mark.parametrize("stack", [POSTGRES_REDIS], indirect=True)
@pytest.mark.parametrize(("method", "path"), described_operations(), ids=lambda value: value)
def test_fuzzed_requests_never_fail_or_cross_organizations(live_server, demo, method, path, browser):
    app, base_url = live_server
    carol = browser()
    carol.login("carol@globex.test")  # Globex has a live session and an audit trail that must stay untouched
    before = other_organization_rows(app, demo["globex"])
    operation = schemathesis.openapi.from_dict(fuzzing_document(app))[path][method]
    alice = Browser(base_url, "alice@acme.test")
    known = known_values(app)
    sent = 0

    def send(case) -> None:
        nonlocal sent
        # Longer request lines never reach the app: gunicorn refuses them (limit_request_line 4094),
        # and the test server answers 414 itself.
        assume(len(urlencode(case.query or {}, doseq=True)) <= MAX_QUERY_BYTES)
        headers = {"X-CSRFToken": alice.token} if method in UNSAFE else {}
        response = case.call(base_url=base_url, session=alice.http, headers=headers, timeout=REQUEST_TIMEOUT)
        sent += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if (method, path) in SESSION_ENDING and response.status_code < 300:
            alice.sign_in()

    started = time.monotonic()
    try:
        for mode, examples in EXAMPLES.items():
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                strategy = with_known_path_values(strategy, known)
            run = settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy)(send))
            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid: the operation takes no parameters and no body.
                assert mode is GenerationMode.NEGATIVE
    finally:
        alice.close()
    report = os.environ.get("FUZZ_REPORT")  # `make fuzz` sums these lines
    if report:
        with open(report, "a", encoding="utf-8") as lines:
            lines.write(f"{method} {path} {sent} {time.monotonic() - started:.1f}\n")

    assert other_organization_rows(app, demo["globex"]) == before, "a fuzzed request changed Globex data"
    assert carol.get("/api/me").status_code == 200
