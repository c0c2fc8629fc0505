"""Logging set-up for every command: level, text or JSON lines, quiet libraries, masking on every handler."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from paybridge.ops.settings import QUIET_LOGGERS, LoggingSettings
from paybridge.security.cardguard import redact
from paybridge.security.logredact import install_log_redaction

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and ``extra`` fields.

    It formats what the redacting filter has already rewritten (message and traceback); the
    ``extra`` fields are not seen by that filter, so they are redacted here.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if extra:
            entry.update(redact(json.loads(json.dumps(extra, default=str))))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(settings: LoggingSettings) -> logging.Formatter:
    return JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT)


def setup_logging(settings: LoggingSettings | None = None) -> logging.Handler:
    """Log to stderr through the card-data redactor (uvicorn's handlers too); returns the handler.

    Call it again after uvicorn's Config is built: every handler there is by then gets the mask.
    """
    settings = settings or LoggingSettings()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(settings))
    logging.basicConfig(level=settings.level, handlers=[handler], force=True)
    quiet_level = max(logging.WARNING, logging.getLevelName(settings.level))
    for name in {*QUIET_LOGGERS, *settings.quiet}:
        # A second call (serve sets up twice) may make a logger chatty again.
        logging.getLogger(name).setLevel(quiet_level if name in settings.quiet else logging.NOTSET)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers (when it made any) write in the same format.
        for own in logging.getLogger(name).handlers:
            own.setFormatter(formatter_for(settings))
    install_log_redaction()
    return handler
