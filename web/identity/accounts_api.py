"""Account management for organization admins, and changing one's own password."""

from __future__ import annotations

from typing import Any

from web.errors import APIError
from web.extensions import db
from web.identity import accounts
from web.identity.login import signed_in_blueprint
from web.identity.schemas import (
    AccountListOut,
    AccountOut,
    PasswordChangedOut,
    PasswordChangeIn,
    UserUpdateIn,
    account_json,
)
from web.identity.session_user import signed_in_user
from web.platform.api_spec import api_operation
from web.platform.http import client_info, current_session_id
from web.platform.schemas import parse_body

bp = signed_in_blueprint("accounts_api", __name__, url_prefix="/api")


@bp.get("/users")
@api_operation("The users of the organization (admins)", responses={200: AccountListOut}, errors=(403,))
def list_users() -> dict[str, Any]:
    users = accounts.list_organization_users(db.session, actor_id=signed_in_user().id)
    return {"users": [account_json(user) for user in users]}


@bp.patch("/users/<id:user_id>")
@api_operation(
    "Change a user's role or active flag (admins; not one's own)",
    body=UserUpdateIn,
    responses={200: AccountOut},
    errors=(403, 409),
)
def update_user(user_id: int) -> dict[str, Any]:
    changes = parse_body(UserUpdateIn).model_dump(exclude_unset=True)
    # The description admits no null (web.platform.schemas.omittable); pydantic lets one through to be named here.
    problems = {field: "May not be null." for field, value in changes.items() if value is None}
    if not changes:
        problems["body"] = "Give at least one of role, is_active."
    if problems:
        raise APIError(422, "validation_error", "The request has invalid fields.", fields=problems)
    user = accounts.update_user(
        db.session, actor_id=signed_in_user().id, user_id=user_id, client=client_info(), **changes
    )
    return account_json(user)


@bp.post("/auth/password")
@api_operation(
    "Change one's own password; other sessions are signed out",
    body=PasswordChangeIn,
    responses={200: PasswordChangedOut},
    description="400 `invalid_credentials` when the current password is wrong; wrong current passwords count "
    "against the account's sign-in throttle (429 once used up).",
    errors=(429,),
)
def change_password() -> dict[str, int]:
    body = parse_body(PasswordChangeIn)
    revoked = accounts.change_password(
        db.session,
        user_id=signed_in_user().id,
        current_password=body.current_password,
        new_password=body.new_password,
        current_session_id=current_session_id(),
        client=client_info(),
    )
    return {"revoked": revoked}
