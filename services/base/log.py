"""Structured logs: one JSON object per line on stderr, quiet by default.

`AURORA_LOG=info` (or debug) makes a service talk more; warnings and errors always show.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "service": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(service: str, level: str | None = None) -> logging.Logger:
    level = (level or os.environ.get("AURORA_LOG", "warning")).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level, logging.WARNING))
    logging.Formatter.converter = time.gmtime
    return logging.getLogger(service)


def event(logger: logging.Logger, level: int, msg: str, **fields) -> None:
    """Log `msg` with structured fields."""
    logger.log(level, msg, extra={"fields": fields})
