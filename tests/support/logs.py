"""What the app logged while a block ran: the ``web`` logger (which does not propagate) and the root logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

LOGGERS = ("web", "")  # "" is the root: Flask-Limiter's and the libraries' loggers end there


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self, level: int = logging.ERROR) -> list[str]:
        """The records at ``level`` or above that carry a traceback."""
        return [f"{r.name}: {r.getMessage()}" for r in self.records if r.levelno >= level and r.exc_info]

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@contextmanager
def captured_logs() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
