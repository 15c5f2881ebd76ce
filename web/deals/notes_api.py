"""The notes JSON API: ``GET`` and ``POST /api/deals/<id>/notes``."""

from __future__ import annotations

from typing import Any

from web.deals import notes as note_service
from web.deals.schemas import NoteIn, NoteListOut, NoteOut, note_json
from web.extensions import db
from web.identity.login import signed_in_blueprint
from web.identity.session_user import signed_in_user
from web.platform.api_spec import api_operation
from web.platform.http import client_info
from web.platform.schemas import PageIn, parse_body, parse_query

bp = signed_in_blueprint("notes_api", __name__, url_prefix="/api/deals")


@bp.get("/<id:deal_id>/notes")
@api_operation("Notes on a visible deal, newest first", query=PageIn, responses={200: NoteListOut})
def list_notes(deal_id: int) -> dict[str, Any]:
    page = parse_query(PageIn)
    notes, total = note_service.list_notes(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, limit=page.limit, offset=page.offset
    )
    return {"notes": [note_json(note) for note in notes], "total": total}


@bp.post("/<id:deal_id>/notes")
@api_operation("Add a note (editors, the owner, admins)", body=NoteIn, responses={201: NoteOut}, errors=(403,))
def add_note(deal_id: int) -> tuple[dict[str, Any], int]:
    body = parse_body(NoteIn)
    note = note_service.add_note(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, body=body.body, client=client_info()
    )
    return note_json(note), 201
