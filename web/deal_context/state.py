"""The deal context as a session holds it: one class owns its stored form and its merge rule.

A session keeps the user's working deal under ``DealContext.SESSION_KEY`` as
``{"deal_id", "version"}``, plus ``"deal"`` (the deal as the API shows it) and
``"checked_at"`` (Unix time of its last visibility check) when the deal is cached.
``version`` comes from ``users.deal_context_version`` (``web.deal_context.service``),
so whoever writes a context can tell which of two is newer:

* the merge rule (``DealContext.keeps_stored``): a request saving its session never
  replaces a stored context with an older one. The session store knows nothing of
  deals: ``web.deal_context.request.register_deal_context`` hands it this rule.
* the two rewrites of live sessions that the session index applies
  (``web.identity.session_index``): ``reset_to_state`` after a change that may take
  deals out of sight, ``without_cached_deal`` after a deal changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from web.platform.session_store.base import Transform


class ContextState(NamedTuple):
    """A user's durable context right after a change: what their live sessions are rewritten to."""

    version: int
    deal_id: int | None


@dataclass(frozen=True)
class DealContext:
    """A session's deal context: the deal, its version and, maybe, the deal cached as the API shows it."""

    # Where a session keeps it.
    SESSION_KEY: ClassVar[str] = "deal_ctx"

    deal_id: int | None
    version: int
    # The deal as the API shows it, when this context has it cached (never for deal_id None),
    # and when (Unix time) its visibility was last checked.
    deal: dict[str, Any] | None = None
    checked_at: float = 0.0

    def to_session(self) -> dict[str, Any]:
        """The value stored under ``SESSION_KEY``: only ints, strings, floats and the cached deal's plain dict."""
        value: dict[str, Any] = {"deal_id": self.deal_id, "version": self.version}
        if self.deal is not None and self.deal_id is not None:
            value["deal"] = self.deal
            value["checked_at"] = self.checked_at
        return value

    @classmethod
    def from_session(cls, value: Any) -> DealContext | None:
        """The context a stored value describes; None when there is none (or it is not a context)."""
        if not isinstance(value, dict):
            return None
        deal_id = value.get("deal_id")
        cached = value.get("deal")
        return cls(
            deal_id=int(deal_id) if deal_id is not None else None,
            version=int(value.get("version", 0)),
            deal=cached if isinstance(cached, dict) and deal_id is not None else None,
            checked_at=float(value.get("checked_at", 0.0)),
        )

    @classmethod
    def in_session(cls, data: Any) -> DealContext | None:
        """The context held by session data (a session or the decoded stored mapping)."""
        return cls.from_session(data.get(cls.SESSION_KEY))

    def fresh_deal(self, now: float, max_age: float) -> dict[str, Any] | None:
        """The cached deal if it was checked less than ``max_age`` seconds before ``now``."""
        return self.deal if self.deal is not None and now - self.checked_at < max_age else None

    def with_deal(self, deal: dict[str, Any], *, checked_at: float) -> DealContext:
        """The same context with ``deal`` cached, checked at ``checked_at``."""
        return DealContext(self.deal_id, self.version, deal, checked_at)

    @staticmethod
    def keeps_stored(candidate: Any, stored: Any) -> bool:
        """The merge rule: True when a request's ``candidate`` value is older than the ``stored`` one.

        A context with a higher version was chosen later (its selection saw every change
        before it), so an in-flight save of an older one must not overwrite it.
        """
        new, old = DealContext.from_session(candidate), DealContext.from_session(stored)
        return new is not None and old is not None and new.version < old.version


@dataclass(frozen=True)
class ContextNotice:
    """A notice a session owes its next page: the deal it held was taken away by a change made elsewhere.

    Written by ``reset_to_state`` next to the rewritten context, read (and removed) by
    ``web.deal_context.announcements``, which finds who did what in the audit trail. Plain
    ints only, as everything in a session.
    """

    SESSION_KEY: ClassVar[str] = "ctx_notice"

    lost_deal_id: int
    # The deal the session holds now (the user's durable choice, when still visible), or None.
    new_deal_id: int | None
    version: int
    # When the session was rewritten (Unix seconds): the change that explains it was recorded shortly before.
    noticed_at: int

    def to_session(self) -> dict[str, Any]:
        return {
            "lost_deal_id": self.lost_deal_id,
            "new_deal_id": self.new_deal_id,
            "version": self.version,
            "noticed_at": self.noticed_at,
        }

    @classmethod
    def in_session(cls, data: Any) -> ContextNotice | None:
        """The notice held by session data, or None (none, or not a notice)."""
        value = data.get(cls.SESSION_KEY)
        if not isinstance(value, dict) or not isinstance(value.get("lost_deal_id"), int):
            return None
        new_deal_id = value.get("new_deal_id")
        return cls(
            lost_deal_id=value["lost_deal_id"],
            new_deal_id=new_deal_id if isinstance(new_deal_id, int) else None,
            version=int(value.get("version", 0)),
            noticed_at=int(value.get("noticed_at", 0)),
        )


def reset_to_state(state: ContextState) -> Transform:
    """A session rewrite setting the deal context to ``state`` unless the session holds a newer one.

    A context with a higher version was selected after the change committed, and its
    selection saw the change (``web.deal_context.service``); anything older, a restored
    context (version 0) or none at all is replaced. The cached deal is kept only when
    the session keeps the same deal; when it loses its deal, a ``ContextNotice`` is left
    for its next page to say what happened.
    """

    def transform(stored: dict[str, Any]) -> dict[str, Any] | None:
        value = stored.get(DealContext.SESSION_KEY)
        current = DealContext.from_session(value)
        if current is not None and current.version > state.version:
            return None
        replacement = DealContext(state.deal_id, state.version)
        if current is not None and current.deal_id == state.deal_id and current.deal is not None:
            replacement = replacement.with_deal(current.deal, checked_at=current.checked_at)
        if value == replacement.to_session():
            return None
        stored[DealContext.SESSION_KEY] = replacement.to_session()
        if current is not None and current.deal_id is not None and current.deal_id != state.deal_id:
            # The session's deal was taken away: its next page says what happened (web.deal_context.announcements).
            stored[ContextNotice.SESSION_KEY] = ContextNotice(
                current.deal_id, state.deal_id, state.version, int(time.time())
            ).to_session()
        return stored

    return transform


def without_cached_deal(deal_id: int) -> Transform:
    """A session rewrite dropping the cached copy of ``deal_id``; the next read of the current deal fetches it again."""

    def transform(stored: dict[str, Any]) -> dict[str, Any] | None:
        current = DealContext.in_session(stored)
        if current is None or current.deal_id != deal_id or current.deal is None:
            return None
        stored[DealContext.SESSION_KEY] = DealContext(current.deal_id, current.version).to_session()
        return stored

    return transform
