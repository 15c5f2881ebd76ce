"""Helpers for the HTML page tests: post forms with the page's CSRF token, sign in, pick stacks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.conftest import POSTGRES_SQL, SQLITE_SQL, ApiClient

# Page tests exercise forms and templates, not the stores (the API tests cover every stack):
# SQLite by default, PostgreSQL too where SQL differs (the name search).
ONE_STACK = pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True, ids=lambda s: s.id)
BOTH_DATABASES = pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_SQL], indirect=True, ids=lambda s: s.id)

CSRF_FIELD = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def form_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def submit(user: ApiClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
    """Post a form as the browser would: the page's CSRF token in the body."""
    return user.client.post(path, data={"csrf_token": user.csrf, **(data or {})}, **kwargs)


def signed_in(browser: Callable[..., ApiClient], who: str) -> ApiClient:
    user = browser()
    user.login(who)
    return user
