"""The cast many tests share, made with the factories (not with the product's demo seed).

Acme Capital: alice (admin), bob (member), dave (member, viewer of bob's Woodgrove deal);
Globex Partners: carol (admin). The deals are those the README lists for the demo data,
with the soft-deleted Litware deal, so tests written against the demo read the same.
"""

from __future__ import annotations

from tests.support.factories import Factories
from web.deals.models import Stage
from web.identity.models import Role

# How the cast signs in (password: the factories' default).
EMAILS = {"alice": "alice@acme.test", "bob": "bob@acme.test", "dave": "dave@acme.test", "carol": "carol@globex.test"}

# In the demo seed's order, so ids come out the same: (owner, name, stage, value, soft-deleted).
DEALS = [
    ("alice", "Northwind Logistics buyout", Stage.DILIGENCE, "12500000.00", False),
    ("alice", "Contoso Health minority stake", Stage.SOURCING, "4000000.00", False),
    ("alice", "Fabrikam Robotics series C", Stage.NEGOTIATION, "30000000.00", False),
    ("bob", "Tailspin Air carve-out", Stage.SOURCING, "8750000.00", False),
    ("alice", "Litware legacy spin-off (withdrawn)", Stage.CLOSED_LOST, "1000000.00", True),
    ("carol", "Initech recapitalisation", Stage.DILIGENCE, "22000000.00", False),
    ("carol", "Umbrella Labs growth round", Stage.CLOSED_WON, "15000000.00", False),
    ("bob", "Woodgrove Bank branch sale", Stage.DILIGENCE, "6200000.00", False),
]


def build_world(make: Factories) -> dict[str, int]:
    """Make the cast; returns ids by short name ("alice", "acme", "northwind", ...)."""
    acme = make.organization(name="Acme Capital")
    globex = make.organization(name="Globex Partners")
    users = {
        "alice": make.user(acme, email=EMAILS["alice"], role=Role.ADMIN),
        "bob": make.user(acme, email=EMAILS["bob"]),
        "dave": make.user(acme, email=EMAILS["dave"]),
        "carol": make.user(globex, email=EMAILS["carol"], role=Role.ADMIN),
    }
    deals = {
        name.split()[0].lower(): make.deal(users[owner], name=name, stage=stage, value=value, deleted=deleted)
        for owner, name, stage, value, deleted in DEALS
    }
    make.member(deals["woodgrove"], users["dave"])
    ids = {name: user.id for name, user in users.items()}
    ids.update({"acme": acme.id, "globex": globex.id})
    ids.update({name: deal.id for name, deal in deals.items()})
    return ids
