"""Build the OpenAPI 3.1 description from the app's URL map and the views' ``@api_operation`` declarations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

from web.platform.api_spec.registry import Operation, operation_of
from web.platform.http import MAX_ID
from web.platform.schemas import ErrorOut

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^>]*\))?:)?(?P<name>\w+)>")
_MAX_LENGTH = re.compile(r"\b(?:max)?length=(\d+)")

ERROR_DESCRIPTIONS = {
    400: "`bad_request` (the body is not a JSON object) or `csrf_failed` (X-CSRFToken missing, wrong or "
    "not bound to this session).",
    401: "`unauthenticated`: sign in first.",
    403: "`forbidden`: signed in, but not allowed.",
    404: "`not_found`: no such resource, or not visible to this user.",
    409: "`conflict`: the change clashes with the current state.",
    413: "`payload_too_large`: the body is over the size limit.",
    422: "`validation_error`: `fields` maps each invalid field to its problem.",
    429: "`rate_limited`: too many attempts; retry after `Retry-After` seconds.",
    503: "`session_store_unavailable`: the session store cannot be reached; retry after `Retry-After` seconds.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}
API_DESCRIPTION = """\
Deals with a persistent working-deal context.

**Sessions.** The server keeps a signed-in session; the browser holds only the `dealdesk_session`
cookie (HttpOnly, SameSite=Lax, Secure in production), which carries a random session id set at
sign-in. Before sign-in the server keeps nothing: a visitor's session (its CSRF token) is the
signed `dealdesk_anon` cookie, with the same flags, which sign-in removes.

**CSRF.** `GET /api/csrf` returns a token bound to the session (before sign-in it sets the
`dealdesk_anon` cookie). Every POST, PATCH, PUT and DELETE, sign-in included, must send it in the
`X-CSRFToken` header, with the cookies; otherwise the answer is 400 `csrf_failed`.
The token in that header is the whole check, over HTTPS too: no `Referer` is needed, none is
looked at (the same-origin `Referer` rule applies to the HTML forms only). The server grants no
cross-origin (CORS) request, so a browser sends the header only from DealDesk's own pages.
Sign-in replaces the session and its token: fetch `GET /api/csrf` again after it.

**Errors** all have one shape: `{"error": {"code": "...", "message": "...", ...}}`.
"""


def api_rules(app: Flask) -> Iterator[Rule]:
    """The URL rules of the JSON API, in a stable order."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule == "/api" or rule.rule.startswith("/api/"):
            yield rule


def rule_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - IGNORED_METHODS)


def openapi_path(rule: Rule) -> str:
    return _RULE_ARGUMENT.sub(lambda m: "{" + m.group("name") + "}", rule.rule)


def undocumented_rules(app: Flask) -> list[str]:
    """``METHOD /path`` of every API rule whose view has no ``@api_operation``."""
    return [
        f"{method} {rule.rule}"
        for rule in api_rules(app)
        if operation_of(app.view_functions.get(rule.endpoint)) is None
        for method in rule_methods(rule)
    ]


def path_parameters(rule: Rule) -> list[dict[str, Any]]:
    parameters = []
    for match in _RULE_ARGUMENT.finditer(rule.rule):
        converter = match.group("converter") or "default"
        if converter == "id":
            schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        elif converter == "int":
            schema = {"type": "integer", "minimum": 0}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
            if limit := _MAX_LENGTH.search(match.group(0)):
                schema["maxLength"] = int(limit.group(1))
        parameters.append({"name": match.group("name"), "in": "path", "required": True, "schema": schema})
    return parameters


class ComponentSchemas:
    """Every model the operations name, rendered once into ``components.schemas``."""

    def __init__(self, operations: list[Operation]) -> None:
        wanted: set[tuple[type[BaseModel], str]] = {(ErrorOut, "serialization")}
        for operation in operations:
            for model in (operation.body, operation.query):
                if model is not None:
                    wanted.add((model, "validation"))
            for response in operation.responses.values():
                if isinstance(response, type) and issubclass(response, BaseModel):
                    wanted.add((response, "serialization"))
        ordered = sorted(wanted, key=lambda item: (item[0].__module__, item[0].__qualname__, item[1]))
        refs, document = models_json_schema(ordered, ref_template=REF_TEMPLATE)
        self.refs = refs
        self.schemas: dict[str, Any] = document.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])  # type: ignore[index]

    def properties(self, model: type[BaseModel]) -> tuple[dict[str, Any], set[str]]:
        name = self.refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1]  # type: ignore[index]
        schema = self.schemas[name]
        return schema.get("properties", {}), set(schema.get("required", []))


def error_statuses(operation: Operation, method: str, rule: Rule) -> list[int]:
    """The error statuses a request to this operation can get, from what it declares."""
    statuses = {503, *operation.errors}
    if operation.auth:
        statuses.add(401)
    if method in UNSAFE_METHODS:
        statuses |= {400, 413}
    if operation.body is not None:
        statuses |= {400, 422}
    if operation.query is not None:
        statuses.add(422)
    if rule.arguments:
        statuses.add(404)
    return sorted(statuses)


def response_object(status: int, body: Any, components: ComponentSchemas) -> dict[str, Any]:
    if body is None:
        return {"description": "No content." if status == 204 else "OK."}
    schema = components.ref(body, "serialization") if isinstance(body, type) else body
    return {"description": "OK.", "content": {"application/json": {"schema": schema}}}


def error_object(status: int, components: ComponentSchemas) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS.get(status, "An error."),
        "content": {"application/json": {"schema": components.ref(ErrorOut, "serialization")}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def operation_object(rule: Rule, method: str, operation: Operation, components: ComponentSchemas) -> dict[str, Any]:
    parameters = path_parameters(rule)
    if operation.query is not None:
        properties, required = components.properties(operation.query)
        for name, schema in properties.items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    if method in UNSAFE_METHODS:
        parameters.append({"$ref": "#/components/parameters/CsrfToken"})
    responses = {str(status): response_object(status, body, components) for status, body in operation.responses.items()}
    for status in error_statuses(operation, method, rule):
        responses.setdefault(str(status), error_object(status, components))
    document: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_") + ("" if len(rule_methods(rule)) == 1 else f"_{method.lower()}"),
        "summary": operation.summary,
        "tags": list(operation.tags or (rule.endpoint.split(".", 1)[0],)),
        "parameters": parameters,
        "responses": dict(sorted(responses.items())),
        "security": [{"sessionCookie": []}] if operation.auth else [],
    }
    if operation.description:
        document["description"] = operation.description
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": components.ref(operation.body, "validation")}},
        }
    if not parameters:
        del document["parameters"]
    return document


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every declared /api route (``undocumented_rules`` lists the rest)."""
    declared = [
        (rule, operation)
        for rule in api_rules(app)
        if (operation := operation_of(app.view_functions.get(rule.endpoint))) is not None
    ]
    components = ComponentSchemas([operation for _rule, operation in declared])
    paths: dict[str, dict[str, Any]] = {}
    for rule, operation in declared:
        for method in rule_methods(rule):
            paths.setdefault(openapi_path(rule), {})[method.lower()] = operation_object(
                rule, method, operation, components
            )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "DealDesk API",
            "version": str(app.config["APP_VERSION"]),
            "description": API_DESCRIPTION,
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": app.config["SESSION_COOKIE_NAME"],
                    "description": "The server-side session id, set at sign-in (before it, the dealdesk_anon cookie).",
                }
            },
            "parameters": {
                "CsrfToken": {
                    "name": "X-CSRFToken",
                    "in": "header",
                    "required": True,
                    "description": "The token from GET /api/csrf, bound to the session (before sign-in, dealdesk_anon)",
                    "schema": {"type": "string", "minLength": 1},
                }
            },
        },
    }
