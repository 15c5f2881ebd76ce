"""Short notes on a deal: its viewers read them, its editors, owner and admins write them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, Select, bindparam, func, select, true
from sqlalchemy.orm import Session, aliased

from web.audit.service import record_deal_event
from web.deals.models import Deal, DealNote
from web.deals.permissions import require_changeable_deal, visible_deals_clause
from web.domain_errors import NotFound
from web.identity.models import User
from web.platform.client import ClientInfo

NOTE_MAX_LENGTH = 2000


@dataclass(frozen=True)
class NoteView:
    """A note as pages and the API show it: the author's email rather than a bare id."""

    id: int
    deal_id: int
    body: str
    created_at: datetime
    author_id: int | None
    author_email: str | None


def newest_notes_with_authors() -> Select[tuple[int, str, datetime, int | None, str | None]]:
    """The notes of the deal bound as ``deal_id``, newest first, each with its author's email (None once the
    author is gone): what the notes API pages through and the deal page shows the latest of."""
    author = aliased(User, name="author")
    return (
        select(
            DealNote.id,
            DealNote.body,
            DealNote.created_at,
            DealNote.author_id,
            author.email.label("author_email"),
        )
        .outerjoin(author, author.id == DealNote.author_id)
        .where(DealNote.deal_id == bindparam("deal_id"))
        .order_by(DealNote.created_at.desc(), DealNote.id.desc())
    )


def note_total_of(deal_id: ColumnElement[int]) -> ScalarSelect[int]:
    """How many notes the deal ``deal_id`` has, as a correlated subquery."""
    return select(func.count()).where(DealNote.deal_id == deal_id).scalar_subquery()


@functools.cache
def _note_page_statement() -> Select[tuple[int, int, int | None, str | None, datetime | None, int | None, str | None]]:
    """The deal's note total and one page of its notes with their authors' emails: one row per note (at least
    one row, the note columns null when the page is empty), none when the deal is not visible to the user.

    Built once with bound parameters: building the visibility rule costs more CPU than running it. The check,
    the total and the page share one statement, so an empty page still tells a visible deal from a hidden one.
    """
    page = newest_notes_with_authors().limit(bindparam("limit")).offset(bindparam("offset")).subquery("note_page")
    note_total = note_total_of(Deal.id)
    return (
        select(
            Deal.id.label("deal_id"),
            note_total.label("total"),
            page.c.id,
            page.c.body,
            page.c.created_at,
            page.c.author_id,
            page.c.author_email,
        )
        .outerjoin(page, true())
        .where(Deal.id == bindparam("deal_id"), visible_deals_clause(bindparam("user_id")))
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


def _view(note: DealNote, email: str | None) -> NoteView:
    return NoteView(note.id, note.deal_id, note.body, note.created_at, note.author_id, email)


def list_notes(
    db_session: Session, *, user_id: int, deal_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[NoteView], int]:
    """A page of the deal's notes, newest first, and their total, in one statement; 404 when the deal is not
    visible."""
    rows = db_session.execute(
        _note_page_statement(), {"user_id": user_id, "deal_id": deal_id, "limit": limit, "offset": offset}
    ).all()
    if not rows:
        raise NotFound("Deal not found.")
    notes = [
        NoteView(row.id, row.deal_id, row.body, row.created_at, row.author_id, row.author_email)
        for row in rows
        if row.id is not None
    ]
    return notes, rows[0].total


def add_note(db_session: Session, *, user_id: int, deal_id: int, body: str, client: ClientInfo) -> NoteView:
    """Write a note: 404 when the deal is not visible, 403 when the user may only view it."""
    deal = require_changeable_deal(db_session, deal_id, user_id)
    note = DealNote(deal_id=deal.id, author_id=user_id, body=body)
    db_session.add(note)
    db_session.flush()
    record_deal_event(
        db_session,
        deal,
        user_id=user_id,
        action="deal.note_add",
        client=client,
        details={"note_id": note.id},
    )
    email = db_session.scalar(select(User.email).where(User.id == user_id))
    view = _view(note, email)
    db_session.commit()
    return view
