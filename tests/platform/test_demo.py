"""The product's demo seed (``flask seed-demo``) makes what README.md's "Demo data" section says.

The other tests do not use it: they make their own data with tests/support/factories.py.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from tests.support.stacks import SQLITE_SQL
from web.deals.models import Deal, DealMember, MemberRole
from web.demo import DEMO_PASSWORD, database_is_empty, seed_demo_data
from web.extensions import db
from web.identity.models import Organization, User

# README.md: "Demo data": who is in which organization with which role, and which deals each sees.
README_USERS = {
    "alice@acme.test": ("Acme Capital", "admin"),
    "bob@acme.test": ("Acme Capital", "member"),
    "dave@acme.test": ("Acme Capital", "member"),
    "carol@globex.test": ("Globex Partners", "admin"),
}
README_SEES = {
    "alice@acme.test": {
        "Northwind Logistics buyout",
        "Contoso Health minority stake",
        "Fabrikam Robotics series C",
        "Tailspin Air carve-out",
        "Woodgrove Bank branch sale",
    },
    "bob@acme.test": {"Tailspin Air carve-out", "Woodgrove Bank branch sale"},
    "dave@acme.test": {"Woodgrove Bank branch sale"},
    "carol@globex.test": {"Initech recapitalisation", "Umbrella Labs growth round"},
}


@pytest.fixture
def seeded(app: Flask) -> dict[str, int]:
    with app.app_context():
        assert database_is_empty(db.session)
        counts = seed_demo_data(db.session)
        assert not database_is_empty(db.session)
        db.session.remove()
    return counts


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_demo_seed_makes_the_readme_users_and_deals(app: Flask, seeded: dict[str, int]):
    assert seeded == {"organizations": 2, "users": 4, "deals": 8, "members": 1}
    with app.app_context():
        users = {
            user.email: (org.name, user.role.value)
            for user, org in db.session.execute(select(User, Organization).join(User.organization))
        }
        withdrawn = db.session.scalar(select(Deal).where(Deal.deleted_at.is_not(None)))
        member = db.session.scalars(select(DealMember)).one()
        member_names = (db.session.get(User, member.user_id).email, db.session.get(Deal, member.deal_id).name)
        db.session.remove()
    assert users == README_USERS
    assert withdrawn.name == "Litware legacy spin-off (withdrawn)"
    assert member_names == ("dave@acme.test", "Woodgrove Bank branch sale")
    assert member.role == MemberRole.VIEWER


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
@pytest.mark.parametrize("email", sorted(README_SEES))
def test_each_demo_user_signs_in_and_sees_the_readme_deals(browser, seeded, email):
    user = browser()
    user.login(email, password=DEMO_PASSWORD)
    body = user.get("/api/deals").get_json()
    assert {deal["name"] for deal in body["deals"]} == README_SEES[email]
