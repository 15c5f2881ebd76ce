"""The identity API's JSON: sign-in, the signed-in user, accounts and the session index."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool, StringConstraints

from web.deals.schemas import DealOut
from web.identity.accounts import MAX_PASSWORD_LENGTH
from web.identity.models import Role, User, UserSession
from web.identity.session_user import SessionUser
from web.platform.schemas import ResponseModel, StrictModel, iso, omittable, stripped_text

Email = stripped_text(254)
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class LoginIn(StrictModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class UserUpdateIn(StrictModel):
    """Only the fields sent change; ``null`` is refused (422), as the description says."""

    role: omittable(Role) = None
    is_active: omittable(StrictBool) = None


class PasswordChangeIn(StrictModel):
    current_password: Password
    new_password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)]


def user_json(user: SessionUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "organization": {"id": user.organization_id, "name": user.organization_name},
    }


def account_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role.value,
        "is_active": user.is_active,
        "created_at": iso(user.created_at),
    }


def session_json(row: UserSession, *, current: bool) -> dict[str, Any]:
    return {
        "id": row.public_id,
        "created_at": row.created_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "ip": row.ip,
        "user_agent": row.user_agent,
        "current": current,
    }


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


class MeOut(ResponseModel):
    user: UserOut
    current_deal: DealOut | None


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
