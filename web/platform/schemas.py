"""What every JSON API shares (pydantic): strict request models, body and query parsing, paging,
the error shape and text helpers. Each domain keeps its own models in its ``schemas`` module."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from web.errors import APIError

M = TypeVar("M", bound=BaseModel)


def _stripped_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("Must not be blank.")
    return value


def stripped_text(max_length: int) -> Any:
    """Text trimmed of surrounding whitespace, at most ``max_length`` characters as sent and not blank.

    The limit applies to the text as sent (as the OpenAPI description says): with pydantic's
    ``strip_whitespace`` it applied after trimming, so padded text over the limit was accepted.
    """
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length), AfterValidator(_stripped_not_blank)]


def _not_null(schema: dict[str, Any]) -> None:
    """Drop ``null`` from a nullable field's JSON schema: its ``anyOf`` member and its ``default``."""
    schema.pop("default", None)
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


def omittable(annotation: Any) -> Any:
    """A PATCH field that may be left out but never sent as ``null``; give it ``= None``.

    The description shows only ``annotation``: no ``null``, no ``default: null``. For
    validation it stays ``annotation | None``: pydantic takes an explicit ``null`` as
    None, so the view refuses it with its own message ("May not be null."), and any
    other invalid value is named by the field alone, as before.
    """
    return Annotated[annotation | None, Field(json_schema_extra=_not_null)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class PageIn(StrictModel):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(name, err["msg"])
    return fields


def parse_body(model: type[M]) -> M:
    """The JSON body validated by ``model``: 400 when it is not a JSON object, 422 when a field is wrong."""
    payload = request.get_json(silent=True)
    if payload is None:
        raise APIError(400, "bad_request", "The request body must be valid JSON.")
    if not isinstance(payload, dict):
        raise APIError(400, "bad_request", "The request body must be a JSON object.")
    return validate(model, payload)


def parse_query(model: type[M]) -> M:
    return validate(model, request.args.to_dict())


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise APIError(422, "validation_error", "The request has invalid fields.", fields=_field_errors(exc)) from exc


def iso(value: Any) -> str:
    return value.isoformat()


# --- Response models -----------------------------------------------------------------------
# What the views return, for the OpenAPI description (web.platform.api_spec). They forbid extra
# keys, so a view that starts returning a new field fails tests/platform/test_openapi.py until its model says so.


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetailOut(BaseModel):
    """``code`` is stable and machine-readable; more keys may follow (``fields`` on 422)."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    fields: dict[str, str] | None = Field(None, description="Field name to problem, on validation errors.")


class ErrorOut(ResponseModel):
    error: ErrorDetailOut
