"""The table behind the SQL session backend (owned by our migrations, not by Flask-Session)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from web.platform.models import Base, UTCDateTime


class SessionRecord(Base):
    """Same columns as Flask-Session's ``sessions`` table, plus a version for merge-on-save."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255), unique=True)
    # MariaDB/MySQL's BLOB holds 64 KiB; MEDIUMBLOB 16 MiB (PostgreSQL's bytea, SQLite's blob: no such limit).
    data: Mapped[bytes] = mapped_column(LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"))
    expiry: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
