"""A deal with members and notes, so the pages the browser tests look at show what they are for."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask

from web.deals.models import MemberRole
from web.deals.notes import add_note
from web.deals.service import add_member, update_deal
from web.extensions import db
from web.platform.client import ClientInfo


def prepare_demo_activity(app: Flask, demo: dict[str, int]) -> None:
    """A deal with members and notes, so the pages show what they are for."""
    client = ClientInfo(ip="127.0.0.1", user_agent="seed")
    with app.app_context():
        deal_id = demo["northwind"]
        add_member(db.session, user_id=demo["alice"], deal_id=deal_id, member_user_id=demo["bob"],
                   role=MemberRole.EDITOR, client=client)  # fmt: skip
        add_member(db.session, user_id=demo["alice"], deal_id=deal_id, member_user_id=demo["dave"],
                   role=MemberRole.VIEWER, client=client)  # fmt: skip
        update_deal(db.session, user_id=demo["alice"], deal_id=deal_id,
                    changes={"value": Decimal("12750000.00")}, client=client)  # fmt: skip
        for author, body in [
            (demo["bob"], "Management presentation moved to Thursday 10:00."),
            (demo["alice"], "Lender term sheets due end of month; two banks still in."),
            (demo["bob"], "Data room: customer contracts uploaded, IT diligence pending."),
        ]:
            add_note(db.session, user_id=author, deal_id=deal_id, body=body, client=client)
        db.session.remove()
