"""Clients: a browser for the JSON API that speaks CSRF, and the page helpers (forms with the page's token)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import DEFAULT_PASSWORD


class ApiClient:
    """A browser for the JSON API: its own cookie jar, and the CSRF header on every change."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._csrf: str | None = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            response = self.client.get("/api/csrf")
            assert response.status_code == 200, response.data
            self._csrf = response.get_json()["csrf_token"]
        return self._csrf

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"X-CSRFToken": self.csrf, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self._send("DELETE", path, **kwargs)

    def login(self, email: str, password: str = DEFAULT_PASSWORD) -> TestResponse:
        """Sign in through the API (asserting it worked); the CSRF token is fetched anew, before and after."""
        self._csrf = None  # like a real client: a fresh token for the session it signs in with
        response = self.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        self._csrf = None  # sign-in replaced the token: the next change fetches the new one
        return response

    def current_deal_id(self) -> int | None:
        response = self.get("/api/deals/current")
        assert response.status_code == 200, response.get_json()
        deal = response.get_json()["current_deal"]
        return deal["id"] if deal else None

    def session_id(self) -> str | None:
        cookie = self.client.get_cookie("dealdesk_session")
        return cookie.value if cookie else None


# --- The HTML pages: post forms with the page's CSRF token, sign in -----------------------

CSRF_FIELD = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def form_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def submit(user: ApiClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
    """Post a form as the browser would: the page's CSRF token in the body."""
    return user.client.post(path, data={"csrf_token": user.csrf, **(data or {})}, **kwargs)


def signed_in(browser: Callable[..., ApiClient], email: str, *, on: Flask | None = None) -> ApiClient:
    """A new browser, signed in as ``email`` (on the server ``on``, when the test runs more than one)."""
    user = browser(on)
    user.login(email)
    return user
