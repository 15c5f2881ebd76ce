"""The deals API's JSON: request models, response models and serializers for deals, members and notes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Protocol

from pydantic import Field, WithJsonSchema

from web.deals.models import DealMember, MemberRole, Stage
from web.deals.notes import NOTE_MAX_LENGTH, NoteView
from web.platform.schemas import PageIn, ResponseModel, StrictModel, iso, omittable, stripped_text

Name = stripped_text(200)
NoteBody = stripped_text(NOTE_MAX_LENGTH)
# pydantic describes a Decimal's string form with the model's str_max_length, which its decimal
# parser does not apply ("000…0" of any length is 0): the description says only what is checked.
MONEY_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
    "description": "An amount of at least 0 with at most 18 digits, 2 after the point: a JSON number or a string.",
}
Money = Annotated[
    Decimal, Field(ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False), WithJsonSchema(MONEY_SCHEMA)
]


class DealCreateIn(StrictModel):
    name: Name
    stage: Stage = Stage.SOURCING
    value: Money = Decimal("0")


class DealUpdateIn(StrictModel):
    """Only the fields sent change; ``null`` is refused (422), as the description says."""

    name: omittable(Name) = None
    stage: omittable(Stage) = None
    value: omittable(Money) = None


class MemberIn(StrictModel):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
    role: MemberRole = MemberRole.VIEWER


class NoteIn(StrictModel):
    body: NoteBody


class DealFields(Protocol):
    """What ``deal_json`` reads: a ``Deal``, or a row of its columns (``web.deals.service.list_visible_deals``)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def stage(self) -> Stage: ...
    @property
    def value(self) -> Decimal: ...
    @property
    def owner_id(self) -> int: ...
    @property
    def organization_id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def deal_json(deal: DealFields) -> dict[str, Any]:
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


def member_json(member: DealMember, email: str) -> dict[str, Any]:
    return {"user_id": member.user_id, "email": email, "role": member.role.value, "created_at": iso(member.created_at)}


def note_json(note: NoteView) -> dict[str, Any]:
    author = {"id": note.author_id, "email": note.author_email} if note.author_id is not None else None
    return {
        "id": note.id,
        "deal_id": note.deal_id,
        "body": note.body,
        "author": author,
        "created_at": iso(note.created_at),
    }


class DealOut(ResponseModel):
    id: int
    name: str
    stage: Stage
    value: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]{2}$", description="A decimal amount with two places.")]
    owner_id: int
    organization_id: int
    created_at: datetime
    updated_at: datetime


class DealListIn(PageIn):
    """A page of deals; ``q`` keeps those whose name contains it, in any case (the switcher's type-ahead)."""

    q: Annotated[str, Field(max_length=200)] = ""


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
