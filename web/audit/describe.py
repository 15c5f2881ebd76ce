"""Audit events in plain language: one sentence per event, naming people and deals rather than ids.

Every action code the app records (``record_event`` and ``record_deal_event`` calls, and the restore's
INSERT … SELECT in ``web.deal_context.service``) has an entry in ``ACTIONS``: a label for the audit page's
action picker and a sentence. The names come joined in SQL (``web.audit.service.EVENT_COLUMNS``); when the
user, deal or subject is gone, a name the event's details recorded is used, else "a former user" or
"a deleted deal". The activity feed on a deal page shows the actions with ``in_activity`` set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

FORMER_USER = "a former user"
DELETED_DEAL = "a deleted deal"


class DescribableEvent(Protocol):
    """What a sentence needs of an event: a row of ``web.audit.service.EVENT_COLUMNS`` has it."""

    action: str
    user_email: str | None
    deal_name: str | None
    deal_deleted_at: datetime | None
    subject_email: str | None
    details: Mapping[str, Any] | None


@dataclass(frozen=True)
class Names:
    """The names one event mentions, resolved once."""

    actor: str
    deal: str
    subject: str
    details: Mapping[str, Any]


Sentence = Callable[[Names], str]


@dataclass(frozen=True)
class ActionKind:
    code: str
    label: str  # what the action picker shows: what happened, without who
    sentence: Sentence
    in_activity: bool = False  # shown in a deal's activity feed


def _title(value: object) -> str:
    return str(value).replace("_", " ").capitalize()


def _amount(value: object) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


# How a changed field reads in "changed the value of X from A to B".
FIELD_NAMES = {"name": "name", "stage": "stage", "value": "value"}
FIELD_VALUES: dict[str, Callable[[object], str]] = {"stage": _title, "value": _amount, "name": lambda v: f"“{v}”"}


def _field_value(field: str, value: object) -> str:
    return FIELD_VALUES.get(field, str)(value)


def _from_to(field: str, change: object) -> str:
    """ "from Diligence to Negotiation" for one recorded change ``{"from": …, "to": …}``."""
    recorded = change if isinstance(change, dict) else {}
    return f"from {_field_value(field, recorded.get('from'))} to {_field_value(field, recorded.get('to'))}"


def _deal_update(names: Names) -> str:
    """``deal.update``: its details say which fields changed, and (since issue 14) from what to what."""
    changes = names.details.get("changes")
    if not isinstance(changes, dict):
        return f"{names.actor} edited {names.deal}"
    if not changes:
        return f"{names.actor} saved {names.deal} without changes"
    if set(changes) == {"stage"}:
        return f"{names.actor} moved {names.deal} {_from_to('stage', changes['stage'])}"
    if set(changes) == {"name"}:
        return f"{names.actor} renamed a deal {_from_to('name', changes['name'])}"
    parts = [
        f"the {FIELD_NAMES.get(field, field)} {_from_to(field, change)}" for field, change in sorted(changes.items())
    ]
    return f"{names.actor} changed {names.deal}: {'; '.join(parts)}"


def _sessions(names: Names) -> str:
    count = names.details.get("sessions", 1)
    return "all sessions" if not isinstance(count, int) else ("1 session" if count == 1 else f"{count} sessions")


_KINDS = [
    ActionKind("auth.login", "Signed in", lambda n: f"{n.actor} signed in"),
    ActionKind("auth.password_change", "Changed their password", lambda n: f"{n.actor} changed their password"),
    ActionKind(
        "user.role_change",
        "Changed someone's role",
        lambda n: (
            f"{n.actor} changed {n.subject}'s role from {_title(n.details.get('from', '?'))}"
            f" to {_title(n.details.get('to', '?'))}"
        ),
    ),
    ActionKind("user.deactivate", "Deactivated someone", lambda n: f"{n.actor} deactivated {n.subject}"),
    ActionKind("user.activate", "Reactivated someone", lambda n: f"{n.actor} reactivated {n.subject}"),
    # The event is recorded as the user whose sessions ended, whoever ended them.
    ActionKind("session.revoke", "A session was signed out", lambda n: f"{n.actor} was signed out of {_sessions(n)}"),
    ActionKind(
        "session.revoke_all", "All sessions were signed out", lambda n: f"{n.actor} was signed out of {_sessions(n)}"
    ),
    ActionKind("deal.create", "Created a deal", lambda n: f"{n.actor} created {n.deal}", in_activity=True),
    ActionKind("deal.update", "Edited a deal", _deal_update, in_activity=True),
    ActionKind("deal.delete", "Deleted a deal", lambda n: f"{n.actor} deleted {n.deal}", in_activity=True),
    ActionKind(
        "deal.member_add",
        "Added a member",
        lambda n: f"{n.actor} added {n.subject} to {n.deal} as {n.details.get('role', 'member')}",
        in_activity=True,
    ),
    ActionKind(
        "deal.member_role",
        "Changed a member's role",
        lambda n: f"{n.actor} made {n.subject} {n.details.get('role', 'a member')} on {n.deal}",
        in_activity=True,
    ),
    ActionKind(
        "deal.member_remove",
        "Removed a member",
        lambda n: f"{n.actor} removed {n.subject} from {n.deal}",
        in_activity=True,
    ),
    ActionKind("deal.note_add", "Added a note", lambda n: f"{n.actor} added a note to {n.deal}", in_activity=True),
    ActionKind("deal.select", "Switched to a deal", lambda n: f"{n.actor} switched to {n.deal}"),
    ActionKind("deal.clear", "Cleared their current deal", lambda n: f"{n.actor} cleared their current deal"),
    ActionKind(
        "deal.restore",
        "Got their current deal back",
        lambda n: f"{n.actor} got {n.deal} back as their current deal",
    ),
    ActionKind(
        "deal.restore_denied",
        "Lost sight of their last deal",
        lambda n: f"{n.actor}'s last deal, {n.deal}, was not restored: they may no longer see it",
    ),
]

ACTIONS: dict[str, ActionKind] = {kind.code: kind for kind in _KINDS}
# The action codes of a deal's activity feed: what was done to the deal, not who looked at it.
ACTIVITY_ACTIONS: tuple[str, ...] = tuple(kind.code for kind in _KINDS if kind.in_activity)
# The action picker's choices: (code, label), in the order above.
ACTION_CHOICES: tuple[tuple[str, str], ...] = tuple((kind.code, kind.label) for kind in _KINDS)


def _details(event: DescribableEvent) -> Mapping[str, Any]:
    details = event.details
    return details if isinstance(details, Mapping) else {}


def actor_name(event: DescribableEvent) -> str:
    return event.user_email or str(_details(event).get("user_email") or FORMER_USER)


def deal_name(event: DescribableEvent) -> str:
    """The deal's name as it is now (a soft-deleted deal keeps its row), else as the event recorded it."""
    return event.deal_name or str(_details(event).get("deal_name") or DELETED_DEAL)


def subject_name(event: DescribableEvent) -> str:
    details = _details(event)
    return event.subject_email or str(details.get("member_email") or details.get("target_email") or FORMER_USER)


def names_of(event: DescribableEvent) -> Names:
    return Names(actor=actor_name(event), deal=deal_name(event), subject=subject_name(event), details=_details(event))


def _unknown(event: DescribableEvent, names: Names) -> str:
    """An action this module does not know yet still reads as a sentence, with its code quoted."""
    target = f" on {names.deal}" if event.deal_name or _details(event).get("deal_name") else ""
    return f"{names.actor} did “{event.action}”{target}"


def describe(event: DescribableEvent) -> str:
    """The event as one plain sentence: "alice@acme.test deleted Project Atlas"."""
    names = names_of(event)
    kind = ACTIONS.get(event.action)
    sentence = kind.sentence(names) if kind else _unknown(event, names)
    return sentence[0].upper() + sentence[1:] if sentence.startswith(FORMER_USER) else sentence


def action_label(code: str) -> str:
    kind = ACTIONS.get(code)
    return kind.label if kind else code
