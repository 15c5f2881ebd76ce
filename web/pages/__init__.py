"""The browser pages: one blueprint, its routes split by subject."""

from web.pages import deals, views
from web.pages.common import bp

__all__ = ["bp", "deals", "views"]
