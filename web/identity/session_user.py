"""The signed-in user as the session holds it: plain values, rebuilt with no database query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask_login import UserMixin, current_user

from web.identity.models import User

SESSION_USER_KEYS = ("user_email", "user_role", "org_id", "org_name")


@dataclass(frozen=True)
class SessionUser(UserMixin):
    id: int
    email: str
    role: str
    organization_id: int
    organization_name: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return str(self.id)


def session_values(user: User) -> dict[str, Any]:
    """What sign-in stores: ints and strings only (msgspec would turn anything richer into strings)."""
    return {
        "user_email": user.email,
        "user_role": user.role.value,
        "org_id": user.organization_id,
        "org_name": user.organization.name,
    }


def user_from_session(user_id: str, data: Mapping[str, Any]) -> SessionUser | None:
    if not user_id.isdigit() or any(key not in data for key in SESSION_USER_KEYS):
        return None
    return SessionUser(
        id=int(user_id),
        email=str(data["user_email"]),
        role=str(data["user_role"]),
        organization_id=int(data["org_id"]),
        organization_name=str(data["org_name"]),
    )


def signed_in_user() -> SessionUser:
    """The current user inside a ``login_required`` view."""
    return cast(SessionUser, current_user._get_current_object())
