"""An organization's settings, changed by its admins: the currency its amounts are shown in.

``set_currency(db_session, *, actor_id, currency, client) -> Organization``: an active admin sets the ISO 4217
code (one of ``web.platform.currency.CURRENCY_CHOICES``); audited as ``organization.currency_change``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from web.audit.service import record_event
from web.domain_errors import Invalid
from web.identity.accounts import require_organization_admin
from web.identity.models import Organization
from web.platform.client import ClientInfo
from web.platform.currency import is_supported_currency


def set_currency(db_session: Session, *, actor_id: int, currency: str, client: ClientInfo) -> Organization:
    """Show the organization's amounts in ``currency`` from now on (amounts are not converted)."""
    actor = require_organization_admin(db_session, actor_id=actor_id)
    code = currency.strip().upper()
    if not is_supported_currency(code):
        raise Invalid({"currency": "Choose one of the listed currencies."})
    organization = actor.organization
    if organization.currency != code:
        record_event(
            db_session,
            organization_id=organization.id,
            user_id=actor.id,
            action="organization.currency_change",
            client=client,
            details={"from": organization.currency, "to": code},
        )
        organization.currency = code
    db_session.commit()
    return organization
