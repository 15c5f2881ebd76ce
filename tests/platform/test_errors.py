"""Domain errors become the API's answers: one status per class, the code and message as raised."""

from __future__ import annotations

from flask import Flask

from web.domain_errors import Conflict, DomainError, Forbidden, Invalid, InvalidCredentials, NotFound
from web.errors import DOMAIN_STATUS, handle_domain_error

INVALID_FIELDS = "The request has invalid fields."


def every_domain_error() -> set[type[DomainError]]:
    found: set[type[DomainError]] = set()
    pending = [DomainError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.add(subclass)
            pending.append(subclass)
    return found


def test_every_domain_error_has_a_status() -> None:
    assert every_domain_error() <= set(DOMAIN_STATUS)


def test_domain_errors_answer_with_their_status_code_and_message(app: Flask) -> None:
    cases = [
        (NotFound("Deal not found."), 404, {"code": "not_found", "message": "Deal not found."}),
        (Forbidden("No."), 403, {"code": "forbidden", "message": "No."}),
        (Conflict("Not now."), 409, {"code": "conflict", "message": "Not now."}),
        (
            Invalid({"before": "Bad cursor."}),
            422,
            {"code": "validation_error", "message": INVALID_FIELDS, "fields": {"before": "Bad cursor."}},
        ),
        (InvalidCredentials("Wrong."), 400, {"code": "invalid_credentials", "message": "Wrong."}),
    ]
    for error, status, body in cases:
        with app.test_request_context("/api/anything"):
            response = handle_domain_error(error)
        assert (response.status_code, response.get_json()) == (status, {"error": body})  # type: ignore[union-attr]
