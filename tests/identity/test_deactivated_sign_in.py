"""A deactivated person who types the right password is told the account is deactivated; a wrong password gets
the usual answer, so the message tells nothing to someone guessing."""

from __future__ import annotations

import re

import pytest

from tests.support.clients import form_token
from tests.support.factories import Factories
from tests.support.stacks import BOTH_DATABASES, ONE_STACK
from tests.support.state import index_rows

DEACTIVATED = "Your account has been deactivated. Ask an admin of your organization to reactivate it."
INCORRECT = "The email or password is incorrect."


def form_sign_in(browser, email: str, password: str):
    client = browser()
    token = form_token(client.get("/login").text)
    return client.client.post("/login", data={"csrf_token": token, "email": email, "password": password})


@BOTH_DATABASES
def test_the_right_password_of_a_deactivated_account_says_so(app, browser, make: Factories) -> None:
    person = make.user(active=False)
    page = form_sign_in(browser, person.email, "demo-password")
    assert page.status_code == 403
    assert DEACTIVATED in page.text and INCORRECT not in page.text
    assert re.search(r'name="email"[^>]*value="' + re.escape(person.email), page.text), "the email is kept"
    client = browser()
    api = client.post("/api/auth/login", json={"email": person.email, "password": "demo-password"})
    assert api.status_code == 403
    assert api.get_json() == {"error": {"code": "account_deactivated", "message": DEACTIVATED}}
    assert client.session_id() is None and index_rows(app, person.id) == []  # nobody was signed in


@ONE_STACK
@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_a_wrong_password_of_a_deactivated_account_is_the_usual_answer(browser, make: Factories, password) -> None:
    person = make.user(active=False)
    unknown = "nobody@example.test"
    pages = [form_sign_in(browser, email, password or "x") for email in (person.email, unknown)]
    assert [page.status_code for page in pages] == [401, 401]
    assert all(INCORRECT in page.text and DEACTIVATED not in page.text for page in pages)
    answers = [
        browser().post("/api/auth/login", json={"email": email, "password": password or "x"})
        for email in (person.email, unknown)
    ]
    assert [answer.status_code for answer in answers] == [401, 401]
    assert answers[0].get_json() == answers[1].get_json()


@ONE_STACK
def test_deactivated_attempts_count_against_the_throttle(stack_settings, browser, make: Factories) -> None:
    """Telling a deactivated account so is a refusal like any other: it counts, and the limit still answers 429."""
    throttled = stack_settings.make_app(SIGNIN_LIMIT_PER_ACCOUNT="2 per minute")
    person = make.user(active=False)
    client = browser(throttled)
    statuses = [
        client.post("/api/auth/login", json={"email": person.email, "password": "demo-password"}).status_code
        for _ in range(3)
    ]
    assert statuses == [403, 403, 429]
