"""Demo data for a fresh installation (listed in README.md)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from web.deals.models import Deal, DealMember, MemberRole, Stage
from web.identity.auth import hash_password
from web.identity.models import Organization, Role, User
from web.platform.models import utcnow

DEMO_PASSWORD = "demo-password"


def database_is_empty(db_session: Session) -> bool:
    return (db_session.scalar(select(func.count()).select_from(Organization)) or 0) == 0


def seed_demo_data(db_session: Session) -> dict[str, int]:
    """Create the demo organizations, users and deals; returns counts of what was created."""
    password_hash = hash_password(DEMO_PASSWORD)
    acme = Organization(name="Acme Capital")
    globex = Organization(name="Globex Partners")
    db_session.add_all([acme, globex])
    db_session.flush()

    def user(org: Organization, email: str, role: Role) -> User:
        account = User(organization_id=org.id, email=email, password_hash=password_hash, role=role)
        db_session.add(account)
        return account

    alice = user(acme, "alice@acme.test", Role.ADMIN)
    bob = user(acme, "bob@acme.test", Role.MEMBER)
    dave = user(acme, "dave@acme.test", Role.MEMBER)
    carol = user(globex, "carol@globex.test", Role.ADMIN)
    db_session.flush()

    def deal(owner: User, name: str, stage: Stage, value: str, *, deleted: bool = False) -> Deal:
        record = Deal(
            organization_id=owner.organization_id,
            owner_id=owner.id,
            name=name,
            stage=stage,
            value=Decimal(value),
            deleted_at=utcnow() if deleted else None,
        )
        db_session.add(record)
        return record

    deals = [
        deal(alice, "Northwind Logistics buyout", Stage.DILIGENCE, "12500000.00"),
        deal(alice, "Contoso Health minority stake", Stage.SOURCING, "4000000.00"),
        deal(alice, "Fabrikam Robotics series C", Stage.NEGOTIATION, "30000000.00"),
        deal(bob, "Tailspin Air carve-out", Stage.SOURCING, "8750000.00"),
        deal(alice, "Litware legacy spin-off (withdrawn)", Stage.CLOSED_LOST, "1000000.00", deleted=True),
        deal(carol, "Initech recapitalisation", Stage.DILIGENCE, "22000000.00"),
        deal(carol, "Umbrella Labs growth round", Stage.CLOSED_WON, "15000000.00"),
    ]
    shared = deal(bob, "Woodgrove Bank branch sale", Stage.DILIGENCE, "6200000.00")
    db_session.flush()
    db_session.add(DealMember(deal_id=shared.id, user_id=dave.id, role=MemberRole.VIEWER))
    db_session.commit()
    return {"organizations": 2, "users": 4, "deals": len(deals) + 1, "members": 1}
