"""The warm read of the current deal before Flask (web/deal_context/fast_path.py): Flask's answer, byte for byte.

Every stack: the fast path reads the same store Flask would, so it is checked on
SQLite and PostgreSQL, with SQL and Redis sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from tests.support.clients import ApiClient
from tests.support.stacks import StackSettings
from tests.support.state import rewrite_stored_session, stored_session
from web.deal_context import request as deal_context
from web.deal_context.fast_path import CurrentDealFastPath
from web.platform.metrics import FAST_PATH_OUTCOMES

PATH = "/api/deals/current"
ENDPOINT = "deals_api.get_current_deal"


class HandOvers:
    """Counts the requests the fast path handed to Flask (sign-in and selections included: ``reset`` after them)."""

    def __init__(self, app: Flask) -> None:
        fast_path = app.wsgi_app
        assert isinstance(fast_path, CurrentDealFastPath)
        self.count = 0
        inner = fast_path.wsgi_app

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            self.count += 1
            return inner(environ, start_response)

        fast_path.wsgi_app = counting

    def reset(self) -> None:
        self.count = 0


@pytest.fixture
def handovers(app: Flask) -> HandOvers:
    return HandOvers(app)


@pytest.fixture
def flask_only(stack_settings: StackSettings) -> Flask:
    """The same deployment (same store, same database) with the fast path turned off."""
    return stack_settings.make_app(CURRENT_DEAL_FAST_PATH=False)


def answer(app: Flask, sid: str, path: str = PATH, **headers: str) -> Any:
    client = app.test_client()
    client.set_cookie("dealdesk_session", sid)
    return client.get(path, headers=headers)


def outcomes() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("current_deal_fast_path_total", {"outcome": outcome}) or 0.0
        for outcome in FAST_PATH_OUTCOMES
    }


def counted(before: dict[str, float]) -> dict[str, float]:
    """What the fast path counted since ``before``, by outcome (only the outcomes that moved)."""
    return {outcome: value - before[outcome] for outcome, value in outcomes().items() if value != before[outcome]}


def comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    return response.status_code, response.get_data(), sorted(response.headers.items())


@pytest.mark.parametrize("selected", [True, False], ids=["a deal", "no deal"])
def test_the_fast_answer_is_flasks_answer(api, app, demo, flask_only, handovers, selected):
    api.login("dave@acme.test")
    if selected:
        assert api.post(f"/api/deals/{demo['woodgrove']}/select").status_code == 200
    else:
        assert api.delete("/api/deals/current").status_code == 200
    sid = api.session_id()
    handovers.reset()
    fast = answer(app, sid, **{"X-Request-ID": "trace-1"})
    slow = answer(flask_only, sid, **{"X-Request-ID": "trace-1"})
    assert handovers.count == 0, "the fast path answered"
    assert comparable(fast) == comparable(slow)
    expected = demo["woodgrove"] if selected else None
    assert (fast.get_json()["current_deal"] or {}).get("id") == expected
    assert fast.headers["X-Request-ID"] == "trace-1"
    assert fast.headers["Vary"] == "Cookie"
    assert fast.headers["Cache-Control"] == "no-store", "a signed-in answer, like every other"


def test_a_made_up_request_id_is_replaced(api, app, demo, handovers):
    api.login("alice@acme.test")
    handovers.reset()
    response = answer(app, api.session_id(), **{"X-Request-ID": "no spaces allowed"})
    assert handovers.count == 0
    assert len(response.headers["X-Request-ID"]) == 32 and response.headers["X-Request-ID"] != "no spaces allowed"


def test_it_asks_no_database_and_writes_no_session(api, app, demo, handovers, count_queries):
    api.login("alice@acme.test")
    assert api.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    before = stored_session(app, api.session_id())
    handovers.reset()
    with count_queries() as log:
        for _ in range(3):
            assert api.current_deal_id() == demo["northwind"]
    assert handovers.count == 0
    if app.config["SESSION_BACKEND"] == "redis":
        assert log.app_statements == log.store_statements == []
    else:
        assert log.app_statements == [] and len(log.store_statements) == 3  # one read per request
    assert stored_session(app, api.session_id()) == before


def test_it_is_counted_like_the_flask_answer(api, app, demo, handovers):
    api.login("alice@acme.test")
    labels = {"endpoint": ENDPOINT, "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("http_requests_total", labels) or 0.0
    warm_before = REGISTRY.get_sample_value("auto_restore_warm_total") or 0.0
    outcomes_before = outcomes()
    handovers.reset()
    for _ in range(2):
        assert api.get(PATH).status_code == 200
    assert handovers.count == 0
    assert counted(outcomes_before) == {"answered": 2}
    assert (REGISTRY.get_sample_value("http_requests_total", labels) or 0.0) - before == 2
    assert (REGISTRY.get_sample_value("auto_restore_warm_total") or 0.0) - warm_before == 2


def test_a_cold_session_is_handed_to_the_restore_hook(api, app, demo, handovers, count_queries):
    api.login("bob@acme.test")
    assert api.post(f"/api/deals/{demo['tailspin']}/select").status_code == 200
    rewrite_stored_session(app, api.session_id(), lambda data: data.pop("deal_ctx"))
    handovers.reset()
    before = outcomes()
    with count_queries() as log:
        assert api.current_deal_id() == demo["tailspin"]
    assert handovers.count == 1
    assert counted(before) == {"no_context": 1}
    assert len(log.app_statements) == 2, "the restore statement, then the deal, fetched and cached"
    assert api.current_deal_id() == demo["tailspin"]
    assert handovers.count == 1, "warm again"


def test_a_cached_deal_past_its_age_is_checked_by_flask(api, app, demo, handovers, monkeypatch, count_queries):
    api.login("alice@acme.test")
    assert api.post(f"/api/deals/{demo['contoso']}/select").status_code == 200
    later = time.time() + app.config["DEAL_CACHE_SECONDS"] + 1
    monkeypatch.setattr(deal_context, "wall_clock", lambda: later)
    handovers.reset()
    before = outcomes()
    with count_queries() as log:
        assert api.current_deal_id() == demo["contoso"]
    assert handovers.count == 1
    assert counted(before) == {"cache_due": 1}
    assert len(log.app_statements) == 1
    assert api.current_deal_id() == demo["contoso"]
    assert handovers.count == 1, "checked again, cached again"


def test_a_session_due_for_extension_is_extended_by_flask(stack_settings, app, demo):
    touchy = stack_settings.make_app(SESSION_TOUCH_INTERVAL_SECONDS=0.05)
    counter = HandOvers(touchy)
    client = ApiClient(touchy.test_client())
    client.login("alice@acme.test")
    assert client.post(f"/api/deals/{demo['northwind']}/select").status_code == 200
    time.sleep(0.1)
    counter.reset()
    before = outcomes()
    response = client.get(PATH)
    assert response.status_code == 200
    assert counter.count == 1
    assert counted(before) == {"extension_due": 1}
    assert "dealdesk_session=" in response.headers.get("Set-Cookie", ""), "Flask extended it and resent the cookie"


@pytest.mark.parametrize(
    "request_kwargs",
    [{"path": PATH + "?x=1"}, {"path": "/api/deals/current/"}, {"path": "/api/me"}],
    ids=["query string", "other path", "other endpoint"],
)
def test_other_requests_go_to_flask(api, app, demo, handovers, request_kwargs):
    api.login("alice@acme.test")
    handovers.reset()
    answer(app, api.session_id(), **request_kwargs)
    assert handovers.count == 1


def test_no_session_or_a_signed_out_one_gets_flasks_401(api, app, demo, handovers):
    assert api.client.get(PATH).status_code == 401
    api.login("alice@acme.test")
    sid = api.session_id()
    assert api.post("/api/auth/logout").status_code in (200, 204)
    handovers.reset()
    before = outcomes()
    assert answer(app, sid).status_code == 401
    assert answer(app, "not a valid id!").status_code == 401
    assert handovers.count == 2
    assert counted(before) == {"no_session": 2}
