"""What a service refuses, in the domain's words: services raise these, never HTTP errors.

Nothing here knows HTTP or Flask. ``web.errors`` maps each class to the answer the
client sees (status, and the same ``code`` and ``message`` under /api, an error page
elsewhere); the ``code`` of each class is the stable string the API answers with.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the user should see, with its stable code and a message meant for them."""

    code = "error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        # More members of the answer, beside code and message (``fields`` for Invalid).
        self.extra = extra


class NotFound(DomainError):
    """Missing, deleted, or not visible to this user: the same answer for all three."""

    code = "not_found"


class Forbidden(DomainError):
    """Visible to this user, but not theirs to do."""

    code = "forbidden"


class Conflict(DomainError):
    """Allowed in general, but not in the state things are in."""

    code = "conflict"


class Invalid(DomainError):
    """Input the service cannot accept, with a message per field."""

    code = "validation_error"

    def __init__(self, fields: dict[str, str], message: str = "The request has invalid fields.") -> None:
        super().__init__(message, fields=fields)
        self.fields = fields


class InvalidCredentials(DomainError):
    """A password given to confirm an action is wrong (the user stays signed in)."""

    code = "invalid_credentials"


class AccountDeactivated(DomainError):
    """The right password for an account an admin has deactivated: said only after the password matched."""

    code = "account_deactivated"
