"""Logs: a level and a format from the settings, JSON lines that keep the mask, quiet HTTP libraries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from paybridge.ops.logs import JsonFormatter, setup_logging
from paybridge.ops.settings import QUIET_LOGGERS, LoggingSettings
from paybridge.security.cardguard import RedactingFilter

CARD = "4012000098765439"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide state: every handler's filters and formatter, levels."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access", *QUIET_LOGGERS)
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg, list(lg.handlers), lg.level) for lg in loggers]
    handlers = {h: (list(h.filters), h.formatter) for lg in loggers for h in lg.handlers}
    yield
    for lg, kept, level in saved:
        lg.handlers[:] = kept
        lg.setLevel(level)
    for handler, (filters, formatter) in handlers.items():
        handler.filters[:] = filters
        handler.setFormatter(formatter)


def capture(handler: logging.Handler) -> io.StringIO:
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


def test_json_lines_carry_level_logger_and_masked_message_and_extras() -> None:
    handler = setup_logging(LoggingSettings(format="json", level="info"))
    stream = capture(handler)
    logging.getLogger("paybridge.test").warning(
        "card %s refused", CARD, extra={"customer": "C-1", "note": f"pan {CARD}"}
    )
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("WARNING", "paybridge.test")
    assert entry["customer"] == "C-1"
    assert CARD not in line and entry["message"] == "card xxxxxxxxxxxx5439 refused"
    assert entry["note"] == "pan xxxxxxxxxxxx5439"
    assert entry["time"].endswith("+00:00")


def test_the_level_setting_drops_lower_lines_and_httpx_is_quiet_by_default() -> None:
    handler = setup_logging(LoggingSettings(level="WARNING"))
    stream = capture(handler)
    logging.getLogger("paybridge.test").info("routine")
    logging.getLogger("paybridge.test").error("broken")
    assert stream.getvalue().count("\n") == 1 and "broken" in stream.getvalue()

    handler = setup_logging(LoggingSettings())
    stream = capture(handler)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.paytrace.com")
    logging.getLogger("paybridge.test").info("poll: 3 changes")
    assert "HTTP Request" not in stream.getvalue() and "poll: 3 changes" in stream.getvalue()

    handler = setup_logging(LoggingSettings(quiet=[]))
    stream = capture(handler)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.paytrace.com")
    assert "HTTP Request" in stream.getvalue()


def test_every_handler_is_masked_and_a_traceback_too() -> None:
    handler = setup_logging(LoggingSettings(format="json"))
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    stream = capture(handler)
    try:
        raise ValueError(f"card {CARD}")
    except ValueError:
        logging.getLogger("paybridge.test").exception("failed")
    text = stream.getvalue()
    assert CARD not in text and "ValueError" in json.loads(text)["exception"]


def test_the_formatter_alone_is_json_for_any_record() -> None:
    record = logging.makeLogRecord(
        {"msg": "a %s b", "args": ("x",), "levelname": "INFO", "name": "n"}
    )
    assert json.loads(JsonFormatter().format(record))["message"] == "a x b"
