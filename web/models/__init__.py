"""All models, importable from one place (Alembic and the app need every table registered)."""

from web.models.accounts import Organization, Role, User
from web.models.audit import AuditEvent
from web.models.base import Base, utcnow
from web.models.deals import Deal, DealMember, MemberRole, Stage
from web.models.jobs import JobLock, JobRun
from web.models.notes import DealNote
from web.models.session_index import UserSession
from web.models.session_store import SessionRecord

__all__ = [
    "AuditEvent",
    "Base",
    "Deal",
    "DealMember",
    "DealNote",
    "JobLock",
    "JobRun",
    "MemberRole",
    "Organization",
    "Role",
    "SessionRecord",
    "Stage",
    "User",
    "UserSession",
    "utcnow",
]
