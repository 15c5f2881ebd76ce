"""Deal pages: the searchable list, create, the deal's own page (edit, members, notes) and delete."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from web.deal_context.header import page_header
from web.deal_context.state import DealContext
from web.deals import notes as note_service
from web.deals import service as deal_service
from web.deals.deal_list import list_deal_rows
from web.deals.forms import ROLE_CHOICES, DealForm, MemberForm, MemberRoleForm, NoteForm, person_choices
from web.deals.list_query import list_query_from, page_url, sort_columns
from web.deals.models import Deal, MemberRole, Stage
from web.deals.permissions import require_managed_deal
from web.deals.read_models import (
    deal_and_person_names,
    deal_name,
    deal_overview,
    member_candidates,
    why_deal_is_unavailable,
)
from web.domain_errors import NotFound
from web.errors import deal_unavailable_message, form_not_sent_response
from web.extensions import db
from web.identity.session_user import signed_in_user
from web.platform.drafts import keeps_draft, place_confirmation, take_confirmation, take_kept_draft
from web.platform.forms import ActionForm
from web.platform.http import client_info
from web.platform.pages import bp

Page = tuple[str, int]
NOTE_FORM_ANCHOR = "note-form"
MEMBERS_ANCHOR = "members"
DEALS_PER_PAGE = 50


def explain_unavailable(deal_id: int) -> str | None:
    """For a form that could not be saved: who deleted the deal or took the person off it, and when."""
    return why_deal_is_unavailable(db.session, user_id=signed_in_user().id, deal_id=deal_id)


@bp.get("/deals")
@login_required
def deal_list() -> Page:
    return _render_list(DealForm())


def _render_list(form: DealForm, status: int = 200) -> Page:
    query = list_query_from(request.args)
    listing = list_deal_rows(db.session, user_id=signed_in_user().id, query=query, limit=DEALS_PER_PAGE)
    managed = {deal.id for deal in listing.deals if deal.managed}
    page = render_template(
        "deals.html",
        listing=listing,
        query=query,
        stages=list(Stage),
        sort_columns=sort_columns(query),
        previous_page=page_url(query, query.page - 1) if listing.has_previous else None,
        next_page=page_url(query, query.page + 1) if listing.has_next else None,
        managed=managed,
        form=form,
        action=ActionForm(),
    )
    return page, status


@bp.post("/deals")
@login_required
def create_deal() -> Response | Page:
    form = DealForm()
    if not form.validate_on_submit():
        return _render_list(form, 422)
    user = signed_in_user()
    deal = deal_service.create_deal(
        db.session,
        user_id=user.id,
        organization_id=user.organization_id,
        name=form.name.data or "",
        stage=Stage(form.stage.data),
        value=form.value.data,
        client=client_info(),
    )
    flash(f"Created “{deal.name}”.", "success")
    return redirect(url_for("pages.deal_detail", deal_id=deal.id))


@bp.get("/deals/<id:deal_id>")
@login_required
def deal_detail(deal_id: int) -> Page:
    try:
        return _render_detail(deal_id)
    except NotFound:
        # Text kept across a sign-in for a deal that went away meanwhile: shown, not dropped with a 404.
        draft = take_kept_draft("pages.add_note", deal_id=deal_id) or take_kept_draft(
            "pages.edit_deal", deal_id=deal_id
        )
        if draft is None:
            raise
        return form_not_sent_response(draft, 404, deal_unavailable_message(draft, 404))


def _render_detail(
    deal_id: int,
    *,
    edit_form: DealForm | None = None,
    member_form: MemberForm | None = None,
    note_form: NoteForm | None = None,
    status: int = 200,
) -> Page:
    """The deal page; a form that failed validation is passed back in to show its errors.

    Text kept across a sign-in (``web.platform.drafts``) goes back into the form it was typed in,
    to be sent again by the person; a confirmation placed by the last write shows beside its form.
    """
    user = signed_in_user()
    overview = deal_overview(db.session, user_id=user.id, deal_id=deal_id, with_candidates=True)
    member_form = member_form or MemberForm()
    if overview.can_manage:
        member_form.user_id.choices = person_choices(overview.candidates)
    kept_note = take_kept_draft("pages.add_note", deal_id=deal_id) if note_form is None else None
    kept_edit = take_kept_draft("pages.edit_deal", deal_id=deal_id) if edit_form is None else None
    if kept_note is not None:
        note_form = NoteForm(formdata=MultiDict(kept_note.fields))
    if kept_edit is not None:
        edit_form = DealForm(formdata=MultiDict(kept_edit.fields))
    current = page_header().current
    page = render_template(
        "deal.html",
        overview=overview,
        edit_form=edit_form or DealForm(obj=overview.deal),
        member_form=member_form,
        new_note=note_form or NoteForm(),
        role_choices=ROLE_CHOICES,
        action=ActionForm(),
        is_current=current is not None and current.id == deal_id,
        note_kept=kept_note is not None,
        edit_kept=kept_edit is not None,
        note_confirmation=take_confirmation(f"notes-{deal_id}"),
        edit_confirmation=take_confirmation(f"edit-{deal_id}"),
        members_confirmation=take_confirmation(f"members-{deal_id}"),
    )
    return page, status


@bp.post("/deals/<id:deal_id>/edit")
@keeps_draft(
    "name", "stage", "value", label="changes", page="pages.deal_detail", explain_unavailable=explain_unavailable
)
@login_required
def edit_deal(deal_id: int) -> Response | Page:
    """Save the deal the form showed (its id is in the URL); the confirmation names it."""
    form = DealForm()
    if not form.validate_on_submit():
        return _render_detail(deal_id, edit_form=form, status=422)
    changes = {"name": form.name.data, "stage": Stage(form.stage.data), "value": form.value.data}
    deal_service.update_deal(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, changes=changes, client=client_info()
    )
    place_confirmation(f"edit-{deal_id}", f"Saved changes to {form.name.data}.")
    return redirect(url_for("pages.deal_detail", deal_id=deal_id))


@bp.get("/deals/<id:deal_id>/delete")
@login_required
def confirm_delete(deal_id: int) -> str:
    """Deleting asks first, on a page of its own (no JavaScript needed)."""
    deal = require_managed_deal(db.session, deal_id, signed_in_user().id)
    return render_template("deal_delete.html", deal=deal, action=ActionForm())


@bp.post("/deals/<id:deal_id>/delete")
@login_required
def delete_deal(deal_id: int) -> Response:
    user = signed_in_user()
    # The live sessions (this one too) are rewritten by the service.
    deal_service.delete_deal(db.session, user_id=user.id, deal_id=deal_id, client=client_info())
    # The service left the (soft-deleted) deal in the identity map, expired by its commit: one read by key.
    deleted = db.session.get(Deal, deal_id)
    flash(f"{deleted.name} was deleted." if deleted is not None else "The deal was deleted.", "success")
    return redirect(url_for("pages.deal_list"))


@bp.post("/deals/<id:deal_id>/members")
@login_required
def add_member(deal_id: int) -> Response | Page:
    user = signed_in_user()
    form = MemberForm()
    require_managed_deal(db.session, deal_id, user.id)
    form.user_id.choices = person_choices(
        member_candidates(db.session, deal_id=deal_id, organization_id=user.organization_id)
    )
    if not form.validate_on_submit():
        return _render_detail(deal_id, member_form=form, status=422)
    _, email, _ = deal_service.add_member(
        db.session,
        user_id=user.id,
        deal_id=deal_id,
        member_user_id=form.user_id.data,
        role=MemberRole(form.role.data),
        client=client_info(),
    )
    place_confirmation(f"members-{deal_id}", f"Added {email} to {deal_name(db.session, deal_id)}.")
    return redirect(url_for("pages.deal_detail", deal_id=deal_id, _anchor=MEMBERS_ANCHOR))


@bp.post("/deals/<id:deal_id>/members/<id:user_id>/role")
@login_required
def change_member_role(deal_id: int, user_id: int) -> Response:
    form = MemberRoleForm()
    if not form.validate_on_submit():
        flash("Choose viewer or editor.", "error")
        return redirect(url_for("pages.deal_detail", deal_id=deal_id, _anchor="members"))
    _, email, _ = deal_service.add_member(
        db.session,
        user_id=signed_in_user().id,
        deal_id=deal_id,
        member_user_id=user_id,
        role=MemberRole(form.role.data),
        client=client_info(),
    )
    role = "an editor" if form.role.data == MemberRole.EDITOR.value else "a viewer"
    place_confirmation(f"members-{deal_id}", f"{email} is now {role} of {deal_name(db.session, deal_id)}.")
    return redirect(url_for("pages.deal_detail", deal_id=deal_id, _anchor=MEMBERS_ANCHOR))


@bp.post("/deals/<id:deal_id>/members/<id:user_id>/remove")
@login_required
def remove_member(deal_id: int, user_id: int) -> Response:
    # Named before the removal: the confirmation says who left which deal.
    name, email = deal_and_person_names(db.session, deal_id, user_id)
    deal_service.remove_member(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, member_user_id=user_id, client=client_info()
    )
    place_confirmation(f"members-{deal_id}", f"Removed {email} from {name}.")
    return redirect(url_for("pages.deal_detail", deal_id=deal_id, _anchor=MEMBERS_ANCHOR))


@bp.post("/deals/<id:deal_id>/notes")
@keeps_draft(
    "body", label="note", page="pages.deal_detail", anchor=NOTE_FORM_ANCHOR, explain_unavailable=explain_unavailable
)
@login_required
def add_note(deal_id: int) -> Response | Page:
    """Add the note to the deal the form showed, then show it there with a confirmation naming the deal."""
    form = NoteForm()
    if not form.validate_on_submit():
        return _render_detail(deal_id, note_form=form, status=422)
    note_service.add_note(
        db.session, user_id=signed_in_user().id, deal_id=deal_id, body=form.body.data or "", client=client_info()
    )
    place_confirmation(f"notes-{deal_id}", f"Note added to {deal_name(db.session, deal_id)}.")
    return redirect(page_after_note(deal_id))


def page_after_note(deal_id: int) -> str:
    """Back home when the note was written there and home still shows that deal; else the deal's own page.

    Another tab may have switched the current deal meanwhile: home would then show a different deal,
    and the note would look lost. The session's context is read without a query.
    """
    context = DealContext.in_session(session)
    if request.form.get("from") == "home" and context is not None and context.deal_id == deal_id:
        return url_for("pages.index", _anchor=NOTE_FORM_ANCHOR)
    return url_for("pages.deal_detail", deal_id=deal_id, _anchor=NOTE_FORM_ANCHOR)
