"""Request validation and response shapes for the JSON API (pydantic)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, WithJsonSchema

from web.deals.models import Deal, DealMember, MemberRole, Stage
from web.errors import APIError
from web.identity.models import Role
from web.identity.session_user import SessionUser

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


Name = stripped_text(200)
Email = stripped_text(254)
# pydantic describes a Decimal's string form with the model's str_max_length, which its decimal
# parser does not apply ("000…0" of any length is 0): the description says only what is checked.
MONEY_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
    "description": "An amount of at least 0 with at most 18 digits, 2 after the point: a JSON number or a string.",
}
Money = Annotated[
    Decimal, Field(ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False), WithJsonSchema(MONEY_SCHEMA)
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class LoginIn(StrictModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class DealCreateIn(StrictModel):
    name: Name
    stage: Stage = Stage.SOURCING
    value: Money = Decimal("0")


class DealUpdateIn(StrictModel):
    name: Name | None = None
    stage: Stage | None = None
    value: Money | None = None


class MemberIn(StrictModel):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
    role: MemberRole = MemberRole.VIEWER


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


def deal_json(deal: Deal) -> dict[str, Any]:
    return {
        "id": deal.id,
        "name": deal.name,
        "stage": deal.stage.value,
        "value": f"{deal.value:.2f}",
        "owner_id": deal.owner_id,
        "organization_id": deal.organization_id,
        "created_at": iso(deal.created_at),
        "updated_at": iso(deal.updated_at),
    }


def user_json(user: SessionUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "organization": {"id": user.organization_id, "name": user.organization_name},
    }


def member_json(member: DealMember, email: str) -> dict[str, Any]:
    return {"user_id": member.user_id, "email": email, "role": member.role.value, "created_at": iso(member.created_at)}


# --- Response models -----------------------------------------------------------------------
# What the views return, for the OpenAPI description (web.api_spec). They forbid extra keys,
# so a view that starts returning a new field fails tests/test_openapi.py until its model says so.


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CsrfOut(ResponseModel):
    csrf_token: str = Field(description="Send it back in the X-CSRFToken header of every POST, PATCH and DELETE.")


class OrganizationOut(ResponseModel):
    id: int
    name: str


class UserOut(ResponseModel):
    id: int
    email: str
    role: Role
    organization: OrganizationOut


class DealOut(ResponseModel):
    id: int
    name: str
    stage: Stage
    value: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]{2}$", description="A decimal amount with two places.")]
    owner_id: int
    organization_id: int
    created_at: datetime
    updated_at: datetime


class MeOut(ResponseModel):
    user: UserOut
    current_deal: DealOut | None


class DealListOut(ResponseModel):
    deals: list[DealOut]
    total: int


class CurrentDealOut(ResponseModel):
    current_deal: DealOut | None


class MemberOut(ResponseModel):
    user_id: int
    email: str
    role: MemberRole
    created_at: datetime


class MemberListOut(ResponseModel):
    members: list[MemberOut]


class NoteAuthorOut(ResponseModel):
    id: int
    email: str


class NoteOut(ResponseModel):
    id: int
    deal_id: int
    body: str
    author: NoteAuthorOut | None
    created_at: datetime


class NoteListOut(ResponseModel):
    notes: list[NoteOut]
    total: int


class ErrorDetailOut(BaseModel):
    """``code`` is stable and machine-readable; more keys may follow (``fields`` on 422)."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    fields: dict[str, str] | None = Field(None, description="Field name to problem, on validation errors.")


class ErrorOut(ResponseModel):
    error: ErrorDetailOut


class AccountOut(ResponseModel):
    id: int
    email: str
    role: Role
    is_active: bool
    created_at: datetime


class AccountListOut(ResponseModel):
    users: list[AccountOut]


class PasswordChangedOut(ResponseModel):
    revoked: int = Field(description="How many other sessions of this user were signed out.")


class SessionOut(ResponseModel):
    id: str = Field(description="The session's public id (never the session id itself).")
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


class SessionListOut(ResponseModel):
    sessions: list[SessionOut]


class RevokedOut(ResponseModel):
    revoked: int
