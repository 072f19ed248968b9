"""Structured JSON log lines on stdout: one object per line with time, level, logger, message, fields."""

from __future__ import annotations

import logging
import sys
import time

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup(verbosity: int = 4) -> None:
    """Route every ``qix.*`` logger to stdout as JSON; ``verbosity`` uses the engine's 0 (off) … 5 (debug)."""
    levels = {0: logging.CRITICAL + 10, 1: logging.CRITICAL, 2: logging.ERROR, 3: logging.WARNING,
              4: logging.INFO, 5: logging.DEBUG}
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    qix = logging.getLogger("qix")
    qix.handlers[:] = [handler]
    qix.setLevel(levels.get(verbosity, logging.INFO))
    # the traffic log is gated where frames are seen (TrafficLogVerbosity), not by a logger level
    # records still propagate (so embedding code and test log capture see them), but an unconfigured
    # root must not echo them a second time through logging's last-resort stderr handler
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
