"""Input the app cannot handle is a 4xx, never a 500: JSON nested too deep, numbers out of the columns' range.

Both were found by an outside review (issue 12): 1,000 levels of JSON were a ``RecursionError``
(a 500 with a traceback, on every route, before sign-in); an audit cursor with an id past
2**63 was an ``OverflowError`` on SQLite, on the API and on the page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.support.stacks import BOTH_DATABASES, ONE_STACK
from web.config import DEFAULT_MAX_JSON_DEPTH, ConfigError, build_config
from web.deals.models import Deal
from web.extensions import db
from web.platform.security import json_nesting_exceeds

LIMIT = DEFAULT_MAX_JSON_DEPTH


def nested(depth: int) -> str:
    """A JSON text ``depth`` levels deep: an object holding arrays inside one another."""
    return '{"name": "ok", "extra": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """What the app logs at ERROR or above (the ``web`` logger does not propagate to caplog's root handler)."""
    handler = Records()
    loggers = [logging.getLogger("web"), logging.getLogger()]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def deal_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Deal))
        db.session.remove()
    return count


# --- Nesting -----------------------------------------------------------------------------


@ONE_STACK
@pytest.mark.parametrize("depth", [1000, LIMIT + 1])
def test_deeply_nested_json_is_a_400_before_sign_in(api, errors_logged, depth):
    body = nested(depth)
    for method, path in [("GET", "/api/csrf"), ("GET", "/api/me"), ("GET", "/nowhere")]:
        response = api.client.open(path, method=method, data=body, content_type="application/json")
        assert response.status_code == 400, (path, response.data[:200])
    # A POST with a valid CSRF token, by someone not signed in: sign-in itself.
    response = api.post("/api/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request"
    assert f"more than {LIMIT} deep" in error["message"]
    assert errors_logged == []


@ONE_STACK
@pytest.mark.parametrize("depth", [1000, LIMIT + 1])
def test_deeply_nested_json_is_a_400_when_signed_in_and_changes_nothing(api, app, demo, errors_logged, depth):
    api.login("alice@acme.test")
    before = deal_count(app)
    response = api.post("/api/deals", data=nested(depth), content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    # Also with a charset named, and in a text that is not even valid JSON.
    charset = "application/json; charset=utf-8"
    assert api.post("/api/deals", data="[" * depth, content_type=charset).status_code == 400
    assert api.patch(f"/api/deals/{demo['northwind']}", json=json.loads(nested(LIMIT + 1))).status_code == 400
    assert deal_count(app) == before
    assert errors_logged == []


@ONE_STACK
def test_json_nested_exactly_to_the_limit_is_handled_as_before(api, errors_logged):
    # Not signed in, sign-in validates the body as usual: the unknown field is named.
    response = api.post("/api/auth/login", data=nested(LIMIT), content_type="application/json")
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) >= {"extra"}
    # Brackets inside strings are text, not nesting.
    response = api.post("/api/auth/login", json={"email": "[" * 200 + "@x.test", "password": "{" * 200})
    assert response.status_code == 401
    assert errors_logged == []


@ONE_STACK
def test_the_limit_is_a_setting(stack_settings, app):
    strict = stack_settings.make_app(MAX_JSON_DEPTH=2)
    client = strict.test_client()
    assert client.get("/api/csrf", data="[[1]]", content_type="application/json").status_code == 200
    assert client.get("/api/csrf", data="[[[1]]]", content_type="application/json").status_code == 400


def test_max_json_depth_from_the_environment():
    assert build_config(env={})["MAX_JSON_DEPTH"] == 32
    assert build_config(env={"MAX_JSON_DEPTH": "8"})["MAX_JSON_DEPTH"] == 8
    for bad in ("0", "-1", "2.5", "deep", "201"):
        with pytest.raises(ConfigError, match="MAX_JSON_DEPTH"):
            build_config(env={"MAX_JSON_DEPTH": bad})


@pytest.mark.parametrize(
    "text, depth",
    [
        ("[]", 1),
        ("[[[]]]", 3),
        ('{"a": {"b": [1, {}]}}', 4),
        ('["[[[[", "{{{{"]', 1),
        ('["\\"[[[", "\\\\", []]', 2),
        ('"no end [[[[', 0),
        ('"\\', 0),
        ("[[[[", 4),
        ("]]]][[", 0),  # invalid from its first character: the parser never gets deeper
        ("3", 0),
    ],
)
def test_nesting_is_counted_outside_strings(text, depth):
    assert not json_nesting_exceeds(text, depth)
    if depth:
        assert json_nesting_exceeds(text, depth - 1)


def test_the_count_takes_linear_time_on_hostile_text():
    """An unterminated string of escaped quotes would make a naive pattern quadratic."""
    for text in ('"' + '\\"' * 400_000, '"' * 800_000, "[]" * 400_000, "[" * 800_000):
        json_nesting_exceeds(text, LIMIT)  # finishes (about 0.1 s each); quadratic would take hours


# --- Numbers out of range ---------------------------------------------------------------------

TOO_BIG = [2**31, 2**63, 2**64]


@BOTH_DATABASES
@pytest.mark.parametrize(
    "before",
    [
        "1-9223372036854775808",
        "1-9223372036854775807",
        "1-2147483648",
        "1-0",
        "999999999999999999-1",  # past year 9999
        "253402300800000000-1",  # exactly year 10000
        "1-" + "9" * 30,
    ],
)
def test_out_of_range_cursors_are_422_on_the_api_and_4xx_on_the_page(api, demo, errors_logged, before):
    api.login("alice@acme.test")
    response = api.get("/api/audit", query_string={"before": before})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"
    assert set(response.get_json()["error"]["fields"]) == {"before"}
    assert api.get("/admin/audit", query_string={"before": before}).status_code == 422
    assert errors_logged == []


@BOTH_DATABASES
def test_cursors_and_filters_at_the_edge_of_the_range_work(api, demo):
    api.login("alice@acme.test")
    for before in ("253402300799999999-2147483647", "0-1", "1700000000000000-00000000001"):
        response = api.get("/api/audit", query_string={"before": before})
        assert response.status_code == 200, before
    assert len(api.get("/api/audit", query_string={"before": "253402300799999999-2147483647"}).json["events"]) > 0
    edge = {"user_id": 2**31 - 1, "deal_id": 2**31 - 1}
    assert api.get("/api/audit", query_string=edge).get_json()["events"] == []
    assert api.get("/admin/audit", query_string=edge).status_code == 200
    assert api.get("/api/deals", query_string={"offset": 2**31 - 1}).get_json()["deals"] == []


@BOTH_DATABASES
@pytest.mark.parametrize("number", TOO_BIG)
def test_ids_and_paging_out_of_range_are_422(api, demo, errors_logged, number):
    api.login("alice@acme.test")
    for name in ("user_id", "deal_id", "limit"):
        response = api.get("/api/audit", query_string={name: number})
        assert response.status_code == 422, name
        assert set(response.get_json()["error"]["fields"]) == {name}
        assert api.get("/admin/audit", query_string={name: number}).status_code == 422
    for path in ("/api/deals", f"/api/deals/{demo['northwind']}/notes"):
        for name in ("limit", "offset"):
            response = api.get(path, query_string={name: number})
            assert response.status_code == 422, (path, name)
            assert set(response.get_json()["error"]["fields"]) == {name}
    response = api.post(f"/api/deals/{demo['northwind']}/members", json={"user_id": number})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"user_id"}
    assert errors_logged == []
