"""Form drafts: the text of a form that could not be saved is kept, never dropped (issue 14, "nothing typed is lost").

A page view opts in with ``@keeps_draft("body", page="pages.deal_detail", anchor="notes")``: when a post
to it fails for a reason that is not the text's fault — the session ended (a CSRF failure, answered with the
sign-in form by ``web.errors``), or the deal became invisible — the answer shows the text again instead of
losing it. The draft names the view it was meant for and the view's arguments (the deal id): the text goes
back to *that* deal's form, never to "whatever is current now".

Across a sign-in the draft travels in the sign-in form (a hidden field, no size limit of a cookie, never in
a URL), then in the new signed-in session, and the page it was meant for takes it back into its form. It is
never submitted for the person: a draft replayed after sign-in is text in a form they confirm by sending it
again, so a forged post can at most pre-fill a form, never write.

Also here: a confirmation placed next to the form that caused it (``place_confirmation``), instead of a flash
message at the top of the page that the ``#anchor`` of the redirect scrolls out of sight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, request, session, url_for

DRAFT_SESSION_KEY = "kept_draft"
CONFIRMATION_SESSION_KEY = "placed_confirmation"
CONFIRMATION_MAX_AGE_SECONDS = 120  # shown by the page right after the write, not on a visit hours later
FIELD_MAX_CHARS = 10_000  # per field: far above any form's own limit, small enough for the session store
VIEW_ATTRIBUTE = "keeps_draft"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class DraftPolicy:
    """What a view keeps: its text fields, what the text is called, and the page its form is on."""

    fields: tuple[str, ...]
    label: str
    page: str
    anchor: str | None
    # Why the page's subject is no longer there for the person ("deleted by … at …"), given the view's arguments.
    explain_unavailable: Callable[..., str | None] | None = None


def keeps_draft(
    *fields: str,
    label: str,
    page: str,
    anchor: str | None = None,
    explain_unavailable: Callable[..., str | None] | None = None,
) -> Callable[[View], View]:
    """Mark a page view whose posted ``fields`` are kept when the post cannot be saved.

    ``page`` is the endpoint showing the form, called with the same URL arguments as the view;
    ``explain_unavailable(**view_args)`` says who took the subject away, when it can.
    """
    policy = DraftPolicy(fields=fields, label=label, page=page, anchor=anchor, explain_unavailable=explain_unavailable)

    def mark(view: View) -> View:
        setattr(view, VIEW_ATTRIBUTE, policy)
        return view

    return mark


def policy_of(endpoint: str | None) -> DraftPolicy | None:
    view = current_app.view_functions.get(endpoint or "")
    policy = getattr(view, VIEW_ATTRIBUTE, None)
    return policy if isinstance(policy, DraftPolicy) else None


@dataclass(frozen=True)
class Draft:
    """Text posted to ``endpoint`` with ``view_args``; ``subject`` is the deal's name as the form showed it."""

    endpoint: str
    view_args: dict[str, int]
    fields: dict[str, str]
    subject: str | None = None

    @property
    def policy(self) -> DraftPolicy:
        policy = policy_of(self.endpoint)
        assert policy is not None, self.endpoint
        return policy

    @property
    def label(self) -> str:
        return self.policy.label

    @property
    def page_url(self) -> str:
        """The page whose form the text belongs in (the deal's page, at the form)."""
        policy = self.policy
        return url_for(policy.page, **self.view_args, _anchor=policy.anchor)

    def text(self) -> str:
        """Every kept field's text, for a read-only copy on screen."""
        return "\n\n".join(value for value in self.fields.values() if value)

    def to_plain(self) -> dict[str, Any]:
        """Only strings, ints and dicts of them: what the session store keeps as it was."""
        plain: dict[str, Any] = {"endpoint": self.endpoint, "view_args": self.view_args, "fields": self.fields}
        if self.subject:
            plain["subject"] = self.subject
        return plain

    def to_json(self) -> str:
        return json.dumps(self.to_plain(), separators=(",", ":"))

    def matches(self, endpoint: str, **view_args: int) -> bool:
        return self.endpoint == endpoint and self.view_args == view_args


def _clip(value: Any) -> str | None:
    return value[:FIELD_MAX_CHARS] if isinstance(value, str) else None


def draft_from_plain(data: Any) -> Draft | None:
    """A draft from its plain form (the sign-in form's field, the session), or None when it is not one.

    Only a view marked with ``keeps_draft`` and only its own fields are accepted: whatever a client
    sends, nothing else (a password field, say) is ever kept.
    """
    if not isinstance(data, dict):
        return None
    endpoint = data.get("endpoint")
    policy = policy_of(endpoint) if isinstance(endpoint, str) else None
    view_args, fields = data.get("view_args"), data.get("fields")
    if policy is None or not isinstance(view_args, dict) or not isinstance(fields, dict):
        return None
    if not all(isinstance(key, str) and isinstance(value, int) for key, value in view_args.items()):
        return None
    kept = {name: text for name in policy.fields if (text := _clip(fields.get(name))) is not None}
    if not any(kept.values()):
        return None
    assert isinstance(endpoint, str)
    return Draft(endpoint=endpoint, view_args=dict(view_args), fields=kept, subject=_clip(data.get("subject")))


def draft_from_json(raw: str | None) -> Draft | None:
    if not raw or len(raw) > FIELD_MAX_CHARS * 4:
        return None
    try:
        return draft_from_plain(json.loads(raw))
    except ValueError:
        return None


def draft_of_request() -> Draft | None:
    """The text this form post carries, when its view keeps drafts (None for the API and other views)."""
    policy = policy_of(request.endpoint)
    if policy is None or request.method != "POST" or request.path.startswith("/api/"):
        return None
    view_args = {key: value for key, value in (request.view_args or {}).items() if isinstance(value, int)}
    fields = {name: request.form.get(name, "") for name in policy.fields}
    return draft_from_plain(
        {"endpoint": request.endpoint, "view_args": view_args, "fields": fields, "subject": request.form.get("subject")}
    )


def keep_for_after_sign_in(draft: Draft) -> None:
    """Put the draft in the (new, signed-in) session: the page it belongs on takes it back."""
    session[DRAFT_SESSION_KEY] = draft.to_plain()


def take_kept_draft(endpoint: str, **view_args: int) -> Draft | None:
    """The draft kept for this form of this deal, removed from the session; None (and no session write) else."""
    draft = draft_from_plain(session.get(DRAFT_SESSION_KEY))
    if draft is None or not draft.matches(endpoint, **view_args):
        return None
    session.pop(DRAFT_SESSION_KEY, None)
    return draft


def place_confirmation(key: str, message: str) -> None:
    """A confirmation for the next page to show beside the form ``key`` (e.g. ``notes-7``), not at the top."""
    session[CONFIRMATION_SESSION_KEY] = {"key": key, "message": message, "at": int(time.time())}


def take_confirmation(key: str) -> str | None:
    """The confirmation placed for ``key``, removed from the session; None (and no session write) else."""
    placed = session.get(CONFIRMATION_SESSION_KEY)
    if not isinstance(placed, dict) or placed.get("key") != key:
        return None
    session.pop(CONFIRMATION_SESSION_KEY, None)
    message, placed_at = placed.get("message"), placed.get("at")
    if not isinstance(message, str) or not isinstance(placed_at, int):
        return None
    return message if time.time() - placed_at <= CONFIRMATION_MAX_AGE_SECONDS else None
