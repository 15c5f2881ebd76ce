"""DealDesk: deals with a persistent working-deal context. ``flask --app web`` finds ``create_app`` here.

``create_app`` is looked up on first use, not imported with the package: importing any
``web`` module imports this one first, and gunicorn's master imports ``web.config`` and
``web.platform.logging_setup`` (gunicorn.conf.py) before it points prometheus_client at
the workers' shared metrics directory — the whole app, prometheus_client included, must
not be imported there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from web.app import create_app

        return create_app
    raise AttributeError(f"module 'web' has no attribute {name!r}")
