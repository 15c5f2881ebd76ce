"""The deals JSON API: list, create, read, change, delete, members, and the current deal (select, read, clear)."""

from __future__ import annotations

from typing import Any

from flask import Response

from web.deal_context import request as deal_context
from web.deals import service as deal_service
from web.deals.permissions import require_visible_deal
from web.deals.schemas import (
    CurrentDealOut,
    DealCreateIn,
    DealListIn,
    DealListOut,
    DealOut,
    DealUpdateIn,
    MemberIn,
    MemberListOut,
    MemberOut,
    deal_json,
    member_json,
)
from web.errors import APIError
from web.extensions import db
from web.identity.login import signed_in_blueprint
from web.identity.session_user import signed_in_user
from web.platform.api_spec import api_operation
from web.platform.http import client_info
from web.platform.schemas import parse_body, parse_query

bp = signed_in_blueprint("deals_api", __name__, url_prefix="/api/deals")


@bp.get("")
@api_operation(
    "Deals visible to the user, newest first; q filters by name", query=DealListIn, responses={200: DealListOut}
)
def list_deals() -> dict[str, Any]:
    page = parse_query(DealListIn)
    deals, total = deal_service.list_visible_deals(
        db.session, user_id=signed_in_user().id, limit=page.limit, offset=page.offset, name_contains=page.q
    )
    return {"deals": [deal_json(deal) for deal in deals], "total": total}


@bp.post("")
@api_operation("Create a deal in the user's organization", body=DealCreateIn, responses={201: DealOut})
def create_deal() -> tuple[dict[str, Any], int]:
    body = parse_body(DealCreateIn)
    user = signed_in_user()
    deal = deal_service.create_deal(
        db.session,
        user_id=user.id,
        organization_id=user.organization_id,
        name=body.name,
        stage=body.stage,
        value=body.value,
        client=client_info(),
    )
    return deal_json(deal), 201


@bp.get("/<id:deal_id>")
@api_operation("One visible deal", responses={200: DealOut})
def get_deal(deal_id: int) -> dict[str, Any]:
    return deal_json(require_visible_deal(db.session, deal_id, signed_in_user().id))


@bp.patch("/<id:deal_id>")
@api_operation("Change a deal (editors, the owner, admins)", body=DealUpdateIn, responses={200: DealOut}, errors=(403,))
def update_deal(deal_id: int) -> dict[str, Any]:
    changes = parse_body(DealUpdateIn).model_dump(exclude_unset=True)
    # The description admits no null (web.platform.schemas.omittable); pydantic lets one through to be named here.
    nulls = {field: "May not be null." for field, value in changes.items() if value is None}
    if nulls:
        raise APIError(422, "validation_error", "The request has invalid fields.", fields=nulls)
    deal = deal_service.update_deal(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, changes=changes, client=client_info()
    )
    return deal_json(deal)


@bp.delete("/<id:deal_id>")
@api_operation("Delete a deal (the owner, admins)", responses={204: None}, errors=(403,))
def delete_deal(deal_id: int) -> Response:
    user = signed_in_user()
    # The live sessions (this one too) are rewritten by the service; this request leaves its context alone.
    deal_service.delete_deal(db.session, user_id=user.id, deal_id=deal_id, client=client_info())
    return Response(status=204)


@bp.post("/<id:deal_id>/select")
@api_operation("Make a visible deal the current deal", responses={200: CurrentDealOut})
def select_deal(deal_id: int) -> dict[str, Any]:
    deal = deal_context.select_current_deal(signed_in_user(), deal_id)
    return {"current_deal": deal_json(deal)}


@bp.get("/current")
@api_operation("The current deal, if still visible", responses={200: CurrentDealOut})
def get_current_deal() -> dict[str, Any]:
    return {"current_deal": deal_context.current_deal_json(signed_in_user().id)}


@bp.delete("/current")
@api_operation("Clear the current deal", responses={200: CurrentDealOut})
def clear_current_deal() -> dict[str, Any]:
    deal_context.clear_current_deal(signed_in_user())
    return {"current_deal": None}


@bp.get("/<id:deal_id>/members")
@api_operation("Members of a visible deal", responses={200: MemberListOut})
def list_members(deal_id: int) -> dict[str, Any]:
    members = deal_service.list_members(db.session, user_id=signed_in_user().id, deal_id=deal_id)
    return {"members": [member_json(member, email) for member, email in members]}


@bp.post("/<id:deal_id>/members")
@api_operation(
    "Add a member, or change their role (200)", body=MemberIn, responses={200: MemberOut, 201: MemberOut}, errors=(403,)
)
def add_member(deal_id: int) -> tuple[dict[str, Any], int]:
    body = parse_body(MemberIn)
    member, email, created = deal_service.add_member(
        db.session,
        user_id=signed_in_user().id,
        deal_id=deal_id,
        member_user_id=body.user_id,
        role=body.role,
        client=client_info(),
    )
    return member_json(member, email), 201 if created else 200


@bp.delete("/<id:deal_id>/members/<id:user_id>")
@api_operation("Remove a member", responses={204: None}, errors=(403,))
def remove_member(deal_id: int, user_id: int) -> Response:
    deal_service.remove_member(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, member_user_id=user_id, client=client_info()
    )
    return Response(status=204)
