"""Puts the card-data redacting filter on log handlers: the second line behind the edge guard.

A filter on a logger sees only records logged on that very logger; a filter on a handler sees
every record it writes, whichever library logged it (uvicorn's access line with a query string,
httpx's request line). So the filter goes on handlers: the root logger's and any others given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from paybridge.security.cardguard import RedactingFilter

# "dynamics token: authority discovery failed" is a PayBridge error's "<system> <operation>:
# message", not "token: <a token>". Only that shape (a system's name, the operation "token", a
# colon, then a lower-case word that prose goes on from) is left alone; any other value after
# "token:" (a JWT, an opaque token, a word at the end of a line) is still masked by the guard.
_PROSE_AFTER_TOKEN = re.compile(
    r"\b(?P<key>(?:dynamics|paytrace|d365|paybridge) token)(?=:\s[a-z]{2,24}\s+[a-z])"
)
_MARK = "\ue000"  # a private-use character: splits the key from its colon while redacting


class LogRedactingFilter(RedactingFilter):
    """The card-data guard for log lines, without reading prose after "token:" as a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return super().filter(record)
        if "oken" not in message:
            return super().filter(record)
        record.msg = _PROSE_AFTER_TOKEN.sub(lambda m: m["key"] + _MARK, message.replace(_MARK, ""))
        record.args = None
        kept = super().filter(record)
        record.msg = str(record.msg).replace(_MARK, "")
        return kept


# Loggers that keep their own handlers instead of propagating to the root logger.
OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


def install_log_redaction(handlers: Iterable[logging.Handler] = (), *, global_: bool = True) -> int:
    """Add a RedactingFilter to ``handlers`` and (``global_``) the root's and uvicorn's handlers.

    Returns how many handlers got one; a handler that has one already is left alone, because
    redacting an already redacted line twice is not a no-op.
    """
    targets = list(handlers)
    if global_:
        targets += logging.getLogger().handlers
        for name in OWN_HANDLER_LOGGERS:
            targets.extend(logging.getLogger(name).handlers)
    added = 0
    for handler in dict.fromkeys(targets):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(LogRedactingFilter())
            added += 1
    return added
