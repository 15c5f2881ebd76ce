"""Passwords and sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from web.audit.service import record_event
from web.domain_errors import AccountDeactivated
from web.identity.models import User, email_is
from web.platform.client import ClientInfo

_hasher = PasswordHasher()
DEACTIVATED_MESSAGE = "Your account has been deactivated. Ask an admin of your organization to reactivate it."
# Verified against when the email is unknown, so both failures take the same time; made on first use.
_dummy_hash: str | None = None


def configure_password_hashing(*, cheap: bool) -> None:
    """Argon2's defaults, or its cheapest profile (tests only: hashing would dominate the suite's time)."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST) if cheap else PasswordHasher()
    _dummy_hash = None


def _unknown_user_hash() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-real-password")
    return _dummy_hash


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def find_user_by_email(db_session: Session, email: str) -> User | None:
    return db_session.scalar(select(User).options(joinedload(User.organization)).where(email_is(email)))


def authenticate(db_session: Session, *, email: str, password: str, client: ClientInfo) -> User | None:
    """The active user with these credentials, or None — with no hint which part was wrong.

    A deactivated account is refused with ``AccountDeactivated`` only once its password matched: a wrong
    password gets the same None as an unknown email, so the refusal tells nothing to someone guessing.
    """
    user = find_user_by_email(db_session, email)
    try:
        _hasher.verify(user.password_hash if user else _unknown_user_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if not user.is_active:
        raise AccountDeactivated(DEACTIVATED_MESSAGE)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    record_event(db_session, organization_id=user.organization_id, user_id=user.id, action="auth.login", client=client)
    db_session.commit()
    return user
