"""No route builds its SQL anew on every request (issue 13: statements built once with bound parameters).

SQLAlchemy compiles a statement once and finds it again by its cache key; a statement object built
once (``functools.cache``) keeps its key, while one built per call has its key computed again, by
walking the whole statement, on every execution (about 40 µs for a small ``select(User)``, over
100 µs for the header's). So after a warm-up request, a route's second request must compute no
cache key at all: each computation counted here is a statement some code builds per request.
Every database, with each session store (SQL sessions send statements of their own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.sql.cache_key import HasCacheKey

from tests.support.clients import ApiClient, signed_in
from tests.support.stacks import ALL_STACKS
from tests.support.world import EMAILS

STACKS = pytest.mark.parametrize("stack", ALL_STACKS, indirect=True, ids=lambda s: s.id)


@pytest.fixture
def computed_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements whose cache key SQLAlchemy computes (not found memoized), by class name, as they happen."""
    computed: list[str] = []
    compute = HasCacheKey._generate_cache_key

    def counting(self: Any) -> Any:
        computed.append(type(self).__name__)
        return compute(self)

    monkeypatch.setattr(HasCacheKey, "_generate_cache_key", counting)
    return computed


def routes(demo: dict[str, int]) -> list[tuple[str, str]]:
    deal = demo["northwind"]
    pages = ["/", "/deals", f"/deals/{deal}", "/settings/sessions", "/admin/users", "/admin/audit"]
    api = ["/api/me", f"/api/deals/{deal}", "/api/deals", f"/api/deals/{deal}/notes", "/api/audit", "/api/sessions"]
    return [("GET", path) for path in pages + api] + [("POST", f"/api/deals/{deal}/select")]


@STACKS
def test_a_warm_route_computes_no_cache_key(
    app: Flask, demo: dict[str, int], browser: Callable[..., ApiClient], computed_keys: list[str]
) -> None:
    alice = signed_in(browser, EMAILS["alice"])
    for method, path in routes(demo):
        send = alice.get if method == "GET" else alice.post
        assert send(path).status_code == 200, path  # the first: statements built once are built now
        computed_keys.clear()
        assert send(path).status_code == 200, path
        assert computed_keys == [], f"{method} {path} built {computed_keys} anew"
