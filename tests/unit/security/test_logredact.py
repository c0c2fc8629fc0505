"""Log redaction on handlers: any library's record is masked, and installing twice adds nothing."""

from __future__ import annotations

import io
import logging

import pytest

from paybridge.security.cardguard import RedactingFilter, redact_text
from paybridge.security.logredact import install_log_redaction


def test_global_install_covers_uvicorns_own_handlers() -> None:
    handler = logging.NullHandler()
    logging.getLogger("uvicorn.access").addHandler(handler)
    try:
        install_log_redaction(global_=True)
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    finally:
        logging.getLogger("uvicorn.access").removeHandler(handler)
        for handler_ in logging.getLogger().handlers:  # leave pytest's handlers as they were
            for f in [f for f in handler_.filters if isinstance(f, RedactingFilter)]:
                handler_.removeFilter(f)


def test_handlers_get_one_filter_and_mask_any_logger() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    try:
        assert install_log_redaction([handler], global_=False) == 1
        assert install_log_redaction([handler], global_=False) == 0
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        access.warning('"GET /v1/admin/audit?actor=4111111111111111 HTTP/1.1" 422')
    finally:
        access.removeHandler(handler)
    assert "4111111111111111" not in stream.getvalue()
    assert "xxxxxxxxxxxx1111" in stream.getvalue()


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer eyJhbGciOi.payload.signature",
        "authorization=Bearer eyJhbGciOi.payload.signature",
        "headers={'Authorization': 'Bearer eyJhbGciOi.payload.signature'}",
    ],
)
def test_a_bearer_token_after_its_header_name_is_removed(line: str) -> None:
    assert "payload.signature" not in redact_text(line)
