"""Factories: the organizations, users, deals, members and notes a test says it needs.

Each call adds one row through the models in the app's own ``db.session``, commits,
and returns the row loaded and detached, so a test reads ``user.id`` or
``deal.organization_id`` outside any app context. Names and emails are unique by
default; pass them when the test is about them.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar

from flask import Flask

from web.deals.models import Deal, DealMember, DealNote, MemberRole, Stage
from web.extensions import db
from web.identity.auth import hash_password
from web.identity.models import Organization, Role, User
from web.platform.models import Base, utcnow

# The same as the demo data's, so a test may say "demo-password" whichever way its user was made.
DEFAULT_PASSWORD = "demo-password"

Row = TypeVar("Row", bound=Base)
_serial = itertools.count(1)


@lru_cache(maxsize=8)
def password_hash(password: str) -> str:
    """Hashing is slow on purpose; one hash per password per test process is enough."""
    return hash_password(password)


class Factories:
    """Makes rows on one app's database; see the module docstring."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _save(self, row: Row) -> Row:
        with self.app.app_context():
            db.session.add(row)
            db.session.commit()
            db.session.refresh(row)
            db.session.expunge(row)
            db.session.remove()
        return row

    def organization(self, *, name: str | None = None) -> Organization:
        return self._save(Organization(name=name or f"Organization {next(_serial)}"))

    def user(
        self,
        organization: Organization | int | None = None,
        *,
        email: str | None = None,
        role: Role = Role.MEMBER,
        active: bool = True,
        password: str = DEFAULT_PASSWORD,
    ) -> User:
        """A user of ``organization`` (an id will do; a new one when not given).

        Signs in with ``email`` and ``password``.
        """
        if organization is None:
            organization = self.organization()
        return self._save(
            User(
                organization_id=organization if isinstance(organization, int) else organization.id,
                email=email or f"user{next(_serial)}@example.test",
                password_hash=password_hash(password),
                role=role,
                is_active=active,
            )
        )

    def deal(
        self,
        owner: User,
        *,
        name: str | None = None,
        stage: Stage = Stage.SOURCING,
        value: str = "1000000.00",
        deleted: bool = False,
    ) -> Deal:
        """A deal owned by ``owner``, in the owner's organization; ``deleted`` makes it soft-deleted."""
        return self._save(
            Deal(
                organization_id=owner.organization_id,
                owner_id=owner.id,
                name=name or f"Deal {next(_serial)}",
                stage=stage,
                value=Decimal(value),
                deleted_at=utcnow() if deleted else None,
            )
        )

    def member(self, deal: Deal, user: User, *, role: MemberRole = MemberRole.VIEWER) -> DealMember:
        return self._save(DealMember(deal_id=deal.id, user_id=user.id, role=role))

    def viewer(self, deal: Deal) -> User:
        """A new user of the deal's organization, a viewer member of ``deal``."""
        user = self.user(deal.organization_id)
        self.member(deal, user)
        return user

    def note(self, deal: Deal, author: User, *, body: str | None = None) -> DealNote:
        return self._save(DealNote(deal_id=deal.id, author_id=author.id, body=body or f"Note {next(_serial)}"))
