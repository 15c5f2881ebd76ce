"""One logging configuration, to stdout."""

from __future__ import annotations

import logging.config

from flask import Flask


def configure_logging(app: Flask) -> None:
    level = "DEBUG" if app.debug else "INFO"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {
                "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}
            },
            "loggers": {"web": {"level": level, "handlers": ["stdout"], "propagate": False}},
        }
    )
