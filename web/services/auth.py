"""Passwords and sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from web.models import User
from web.services.audit import ClientInfo, record_event

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def find_user_by_email(db_session: Session, email: str) -> User | None:
    return db_session.scalar(
        select(User).options(joinedload(User.organization)).where(func.lower(User.email) == email.strip().lower())
    )


def authenticate(db_session: Session, *, email: str, password: str, client: ClientInfo) -> User | None:
    """The active user with these credentials, or None — with no hint which part was wrong."""
    user = find_user_by_email(db_session, email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    record_event(db_session, organization_id=user.organization_id, user_id=user.id, action="auth.login", client=client)
    db_session.commit()
    return user
