"""The OpenAPI description: served, valid, complete, and true to the responses of the main flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from werkzeug.test import TestResponse

from tests.support.clients import ApiClient
from tests.support.stacks import POSTGRES_REDIS, SQLITE_SQL
from web.platform.api_spec import openapi_document, undocumented_rules
from web.platform.api_spec.builder import api_rules, openapi_path, rule_methods


class Contract:
    """Checks a real response against the operation the description gives for its method and path."""

    def __init__(self, app: Flask, document: dict[str, Any]) -> None:
        self.document = document
        self.urls = app.url_map.bind("localhost")

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        rule, _arguments = self.urls.match(path, method=method, return_rule=True)
        template = openapi_path(rule)
        return f"{method} {template}", self.document["paths"][template][method.lower()]

    def check(self, method: str, path: str, response: TestResponse) -> str:
        name, operation = self.operation(method, path)
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, f"{name} answered {response.status_code}, which is not documented"
        content = documented.get("content")
        if content is None:
            assert response.data == b"", f"{name} {response.status_code} should have no body"
            return name
        assert response.mimetype == "application/json", name
        schema = {**content["application/json"]["schema"], "components": self.document["components"]}
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(response.json)]
        assert not errors, f"{name} {response.status_code} does not match its schema: {errors}"
        return name


class RecordingClient(ApiClient):
    """An ApiClient that keeps every exchange, for checking against the description afterwards."""

    def __init__(self, client, exchanges: list[tuple[str, str, TestResponse]]) -> None:
        super().__init__(client)
        self.exchanges = exchanges

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        response = super().get(path, **kwargs)
        self.exchanges.append(("GET", urlsplit(path).path, response))
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        response = super()._send(method, path, **kwargs)
        self.exchanges.append((method, urlsplit(path).path, response))
        return response


@pytest.fixture
def exchanges() -> list[tuple[str, str, TestResponse]]:
    return []


@pytest.fixture
def recording(app: Flask, exchanges) -> Callable[[], RecordingClient]:
    return lambda: RecordingClient(app.test_client(), exchanges)


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_description_is_served_and_valid_openapi_3_1(api):
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)
    csrf = document["components"]["parameters"]["CsrfToken"]
    assert (csrf["name"], csrf["in"], csrf["required"]) == ("X-CSRFToken", "header", True)
    assert document["components"]["securitySchemes"]["sessionCookie"]["name"] == "dealdesk_session"
    assert set(document["components"]["schemas"]["ErrorOut"]["properties"]) == {"error"}


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_every_api_route_is_described(app):
    """Fails when a view under /api has no @api_operation (add one next to the route)."""
    assert undocumented_rules(app) == []
    paths = openapi_document(app)["paths"]
    for rule in api_rules(app):
        for method in rule_methods(rule):
            assert method.lower() in paths.get(openapi_path(rule), {}), f"{method} {rule.rule} is not described"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_unsafe_operations_require_the_csrf_header_and_private_ones_the_cookie(app):
    for path, operations in openapi_document(app)["paths"].items():
        for method, operation in operations.items():
            refs = [p.get("$ref") for p in operation.get("parameters", [])]
            needs_csrf = method in ("post", "put", "patch", "delete")
            assert ("#/components/parameters/CsrfToken" in refs) == needs_csrf, (method, path)
            if operation["security"]:
                assert "401" in operation["responses"], (method, path)


def anonymous_flow(client: RecordingClient) -> None:
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/csrf").status_code == 200
    assert client.get("/api/health/session").status_code == 200
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/deals").status_code == 401
    assert client.client.post("/api/deals", json={"name": "x"}).status_code == 400  # no CSRF token: not recorded
    assert client.post("/api/auth/login", json={"email": "alice@acme.test", "password": "wrong"}).status_code == 401
    assert client.post("/api/auth/login", json={"email": "", "extra": 1}).status_code == 422
    assert client.post("/api/auth/login", data="not json", content_type="application/json").status_code == 400
    assert client.post("/api/deals", json={"name": "x"}, headers={"X-CSRFToken": "forged"}).status_code == 400
    assert client.post("/api/auth/logout").status_code == 204


def deal_flow(client: RecordingClient, demo: dict[str, int]) -> None:
    client.login("alice@acme.test")
    assert client.get("/api/me").status_code == 200
    assert client.get("/api/deals?limit=2&offset=1").status_code == 200
    assert client.get("/api/deals?limit=0").status_code == 422
    created = client.post("/api/deals", json={"name": "Contract test", "stage": "diligence", "value": "10.5"})
    assert created.status_code == 201
    deal = created.get_json()["id"]
    assert client.post("/api/deals", json={"name": "", "value": -1}).status_code == 422
    assert client.get(f"/api/deals/{deal}").status_code == 200
    assert client.get("/api/deals/2147483647").status_code == 404
    assert client.get(f"/api/deals/{demo['initech']}").status_code == 404  # another organization's deal
    assert client.patch(f"/api/deals/{deal}", json={"value": 12}).status_code == 200
    assert client.patch(f"/api/deals/{deal}", json={"name": None}).status_code == 422
    assert client.post(f"/api/deals/{deal}/select").status_code == 200
    assert client.get("/api/deals/current").status_code == 200
    assert client.get("/api/context").status_code == 200
    assert client.get("/api/me").status_code == 200
    assert client.delete("/api/deals/current").status_code == 200
    assert client.post(f"/api/deals/{deal}/members", json={"user_id": demo["bob"]}).status_code == 201
    assert client.post(f"/api/deals/{deal}/members", json={"user_id": demo["bob"], "role": "editor"}).status_code == 200
    assert client.post(f"/api/deals/{deal}/members", json={"user_id": "1"}).status_code == 422
    assert client.get(f"/api/deals/{deal}/members").status_code == 200
    assert client.delete(f"/api/deals/{deal}/members/{demo['bob']}").status_code == 204
    assert client.post(f"/api/deals/{deal}/notes", json={"body": "Met the founders."}).status_code == 201
    assert client.get(f"/api/deals/{deal}/notes?limit=5").status_code == 200
    first = client.get("/api/audit?limit=1")
    assert first.status_code == 200
    assert client.get(f"/api/audit?limit=1&before={first.get_json()['next_before']}").status_code == 200
    assert client.get("/api/audit?before=bad").status_code == 422
    assert client.delete(f"/api/deals/{deal}").status_code == 204


def member_flow(client: RecordingClient, demo: dict[str, int]) -> None:
    client.login("dave@acme.test")  # a viewer of Woodgrove
    assert client.get("/api/audit").status_code == 403
    assert client.patch(f"/api/deals/{demo['woodgrove']}", json={"name": "Mine now"}).status_code == 403
    assert client.post(f"/api/deals/{demo['woodgrove']}/notes", json={"body": "hi"}).status_code == 403
    assert client.delete(f"/api/deals/{demo['woodgrove']}").status_code == 403
    assert client.post(f"/api/deals/{demo['northwind']}/select").status_code == 404
    assert client.post("/api/auth/logout").status_code == 204


def accounts_flow(client: RecordingClient, other_browser: RecordingClient, demo: dict[str, int]) -> None:
    other_browser.login("bob@acme.test")
    client.login("bob@acme.test")
    sessions = client.get("/api/sessions")
    assert sessions.status_code == 200
    other = next(s["id"] for s in sessions.get_json()["sessions"] if not s["current"])
    assert client.delete(f"/api/sessions/{other}").status_code == 204
    assert client.delete(f"/api/sessions/{'x' * 32}").status_code == 404
    assert client.post("/api/sessions/revoke-others").status_code == 200
    assert client.get("/api/users").status_code == 403
    wrong = {"current_password": "wrong", "new_password": "a new long password"}
    assert client.post("/api/auth/password", json=wrong).status_code == 400
    assert client.post("/api/auth/password", json={"current_password": "x"}).status_code == 422
    changed = {"current_password": "demo-password", "new_password": "another long password 42"}
    assert client.post("/api/auth/password", json=changed).status_code == 200
    client.login("alice@acme.test")
    assert client.get("/api/users").status_code == 200
    assert client.patch(f"/api/users/{demo['bob']}", json={"role": "admin"}).status_code == 200
    assert client.patch(f"/api/users/{demo['alice']}", json={"is_active": False}).status_code == 409
    assert client.patch(f"/api/users/{demo['carol']}", json={"is_active": False}).status_code == 404
    assert client.patch(f"/api/users/{demo['bob']}", json={}).status_code == 422
    session_id = next(s["id"] for s in client.get("/api/sessions").get_json()["sessions"] if s["current"])
    assert client.delete(f"/api/sessions/{session_id}").status_code == 204  # signs this browser out
    assert client.get("/api/me").status_code == 401
    client._csrf = None  # the session it was bound to is gone
    attempt = {"email": "nobody@acme.test", "password": "wrong"}
    statuses = [client.post("/api/auth/login", json=attempt).status_code for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429


@pytest.mark.parametrize("stack", [SQLITE_SQL, POSTGRES_REDIS], indirect=True)
def test_main_flows_match_the_description(app, demo, recording, exchanges):
    anonymous_flow(recording())
    deal_flow(recording(), demo)
    member_flow(recording(), demo)
    accounts_flow(recording(), recording(), demo)
    contract = Contract(app, openapi_document(app))
    exercised = {contract.check(method, path, response) for method, path, response in exchanges}
    described = {
        f"{method.upper()} {path}"
        for path, operations in openapi_document(app)["paths"].items()
        for method in operations
    }
    assert described - exercised == set(), "operations the flows never exercised"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_out_of_range_ids_are_not_found_for_every_method(api, demo):
    """Found by the fuzz run: Werkzeug answered 405 when a converter rejected the id after matching."""
    api.login("alice@acme.test")
    for method in ("GET", "PATCH", "DELETE"):
        for deal_id in ("2147483648", "821776961478", "0"):
            response = api.client.open(f"/api/deals/{deal_id}", method=method, headers={"X-CSRFToken": api.csrf})
            assert response.status_code == 404, (method, deal_id)
    assert api.post("/api/deals/99999999999/notes", json={"body": "x"}).status_code == 404
    assert api.get("/api/deals/2147483647").status_code == 404


def schema_nulls(schema: Any, components: dict[str, Any], where: str = "") -> list[str]:
    """Where a JSON schema admits ``null`` (a null type or a null default), following ``$ref``s once each."""
    found: list[str] = []
    seen: set[str] = set()
    pending = [(schema, where)]
    while pending:
        node, path = pending.pop()
        if isinstance(node, list):
            pending.extend((item, f"{path}/{index}") for index, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            pending.append((components[ref.rsplit("/", 1)[-1]], ref))
        types = node.get("type")
        if (
            types == "null"
            or (isinstance(types, list) and "null" in types)
            or ("default" in node and node["default"] is None)
        ):
            found.append(path)
        pending.extend((value, f"{path}/{key}") for key, value in node.items() if isinstance(value, dict | list))
    return found


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_request_bodies_admit_no_null(app):
    """The PATCH bodies said ``null`` was allowed and the server answered 422 (issue 12): no body admits it now."""
    document = openapi_document(app)
    components = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                assert schema_nulls(body, components) == [], f"{method.upper()} {path} admits null"
    patch_deal = document["paths"]["/api/deals/{deal_id}"]["patch"]["requestBody"]["content"]["application/json"]
    assert components[patch_deal["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"]["name"]["type"] == "string"


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_an_explicit_null_is_still_refused_field_by_field(api, demo):
    api.login("alice@acme.test")
    for path, body in [
        (f"/api/deals/{demo['northwind']}", {"name": None, "stage": None, "value": None}),
        (f"/api/users/{demo['bob']}", {"role": None, "is_active": None}),
    ]:
        response = api.patch(path, json=body)
        assert response.status_code == 422
        assert response.get_json()["error"]["fields"] == dict.fromkeys(body, "May not be null.")
