"""Short notes on a deal: its viewers read them, its editors, owner and admins write them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from web.audit.service import record_deal_event
from web.deals.models import DealNote
from web.deals.permissions import require_changeable_deal, require_visible_deal
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


def _note_rows(deal_id: int) -> Select[tuple[DealNote, str | None]]:
    return (
        select(DealNote, User.email)
        .outerjoin(User, User.id == DealNote.author_id)
        .where(DealNote.deal_id == deal_id)
        .order_by(DealNote.created_at.desc(), DealNote.id.desc())
    )


def _view(note: DealNote, email: str | None) -> NoteView:
    return NoteView(note.id, note.deal_id, note.body, note.created_at, note.author_id, email)


def list_notes(
    db_session: Session, *, user_id: int, deal_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[NoteView], int]:
    """A page of the deal's notes, newest first, and their total; 404 when the deal is not visible."""
    require_visible_deal(db_session, deal_id, user_id)
    total = db_session.scalar(select(func.count()).select_from(DealNote).where(DealNote.deal_id == deal_id)) or 0
    rows = db_session.execute(_note_rows(deal_id).limit(limit).offset(offset)).all()
    return [_view(note, email) for note, email in rows], total


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
