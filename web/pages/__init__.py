"""The browser pages: one blueprint, its routes split by subject."""

from web.pages import admin, deals, settings, views
from web.pages.common import bp

__all__ = ["admin", "bp", "deals", "settings", "views"]
