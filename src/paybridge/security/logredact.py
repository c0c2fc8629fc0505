"""Puts the card-data redacting filter on log handlers: the second line behind the edge guard.

A filter on a logger sees only records logged on that very logger; a filter on a handler sees
every record it writes, whichever library logged it (uvicorn's access line with a query string,
httpx's request line). So the filter goes on handlers: the root logger's and any others given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from paybridge.security.cardguard import RedactingFilter

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
            handler.addFilter(RedactingFilter())
            added += 1
    return added
