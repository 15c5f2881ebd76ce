"""Managing accounts: roles, deactivation and passwords, with the effect reaching live sessions at once.

Functions (each owns its transaction):

``list_organization_users(db_session, *, actor_id) -> list[User]``: the admin's organization, by email.
``update_user(db_session, *, actor_id, user_id, role=None, is_active=None, client) -> User``: an organization
    admin changes a user of the same organization; the role is rewritten in the user's live sessions,
    a deactivation destroys them.
``change_password(db_session, *, user_id, current_password, new_password, current_session_id, client) -> int``:
    checks the current password and the strength rule, then destroys the user's other sessions
    (returns how many).
``password_problem(password, *, email) -> str | None``: why a new password is too weak, or None.
"""

from __future__ import annotations

import functools
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload

from web.audit.service import record_event
from web.deal_context.service import reset_contexts
from web.domain_errors import Conflict, Forbidden, Invalid, InvalidCredentials, NotFound
from web.identity import session_sync
from web.identity.auth import hash_password
from web.identity.models import Role, User
from web.platform.client import ClientInfo
from web.platform.models import utcnow

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_DISTINCT_CHARACTERS = 5
# The most common choices that pass a length rule; a real deployment may add a breached-password list.
COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "iloveyou1234",
        "letmeinletmein",
        "welcome12345",
        "changeme1234",
        "administrator",
    }
)

_hasher = PasswordHasher()


# Built once with bound parameters: a statement built per call pays SQLAlchemy's cache key for it every time.
@functools.cache
def _active_user_statement() -> Select[Any]:
    # The organization comes along (the admin page shows its settings): no second statement.
    return (
        select(User)
        .options(joinedload(User.organization))
        .where(User.id == bindparam("actor_id"), User.is_active.is_(True))
    )


@functools.cache
def _organization_users_statement() -> Select[Any]:
    return select(User).where(User.organization_id == bindparam("organization_id")).order_by(User.email, User.id)


def require_organization_admin(db_session: Session, *, actor_id: int) -> User:
    """The acting user, when an active admin — checked in the database, not only in the session's copy."""
    actor = db_session.scalar(_active_user_statement(), {"actor_id": actor_id})
    if actor is None or actor.role != Role.ADMIN:
        raise Forbidden("Only an organization admin may manage users.")
    return actor


def list_organization_users(db_session: Session, *, actor_id: int) -> list[User]:
    actor = require_organization_admin(db_session, actor_id=actor_id)
    return list(db_session.scalars(_organization_users_statement(), {"organization_id": actor.organization_id}))


def update_user(
    db_session: Session,
    *,
    actor_id: int,
    user_id: int,
    role: Role | None = None,
    is_active: bool | None = None,
    client: ClientInfo,
) -> User:
    """Change a user's role or active flag; another organization's user is "not found"."""
    actor = require_organization_admin(db_session, actor_id=actor_id)
    user = db_session.scalar(select(User).where(User.id == user_id, User.organization_id == actor.organization_id))
    if user is None:
        raise NotFound("User not found.")
    role_changed = role is not None and role != user.role
    deactivated = is_active is False and user.is_active
    activated = is_active is True and not user.is_active
    if user.id == actor.id and (role_changed or deactivated):
        # Also guarantees that every organization keeps at least one active admin.
        raise Conflict("You cannot change your own role or deactivate yourself.")
    if role_changed:
        assert role is not None
        record_event(
            db_session,
            organization_id=user.organization_id,
            user_id=actor.id,
            action="user.role_change",
            client=client,
            details={"target_user_id": user.id, "from": user.role.value, "to": role.value},
        )
        user.role = role
    if deactivated or activated:
        user.is_active = bool(is_active)
        record_event(
            db_session,
            organization_id=user.organization_id,
            user_id=actor.id,
            action="user.deactivate" if deactivated else "user.activate",
            client=client,
            details={"target_user_id": user.id},
        )
    if role_changed or deactivated or activated:
        user.updated_at = utcnow()
    # An admin who becomes a member may lose sight of the deal they are working on.
    if role_changed:
        reset_contexts(db_session, [user.id])
    if role_changed or deactivated:
        session_sync.owe_user_sync(db_session, [user.id])
    db_session.commit()
    # Also what a retry finishes: a change committed while the store failed is applied now.
    session_sync.apply_pending(db_session, user_ids=[user.id])
    return user


def password_problem(password: str, *, email: str) -> str | None:
    """Why ``password`` is too weak for an account with this email, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return f"Use at least {MIN_DISTINCT_CHARACTERS} different characters."
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    if lowered in COMMON_PASSWORDS or lowered == email.lower() or (len(local_part) >= 3 and local_part in lowered):
        return "Choose a password that is not common and does not contain your email address."
    return None


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(
    db_session: Session,
    *,
    user_id: int,
    current_password: str,
    new_password: str,
    current_session_id: str | None,
    client: ClientInfo,
) -> int:
    """Set a new password and destroy the user's other sessions; returns how many were destroyed."""
    user = db_session.scalar(select(User).where(User.id == user_id, User.is_active.is_(True)))
    if user is None or not _password_matches(user.password_hash, current_password):
        raise InvalidCredentials("The current password is incorrect.")
    problem = password_problem(new_password, email=user.email)
    if problem is None and new_password == current_password:
        problem = "The new password must differ from the current one."
    if problem is not None:
        raise Invalid({"new_password": problem})
    user.password_hash = hash_password(new_password)
    user.updated_at = utcnow()
    record_event(
        db_session, organization_id=user.organization_id, user_id=user.id, action="auth.password_change", client=client
    )
    # Its commit is this change's too: the new password and the revocation it owes are one transaction.
    return session_sync.revoke_all_sessions(
        db_session, user_id=user_id, keep_session_id=current_session_id, client=client
    )
