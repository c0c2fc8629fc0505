"""The log filter keeps "<system> token: <prose>" readable and masks every token value."""

from __future__ import annotations

import logging

import pytest

from paybridge.security.logredact import LogRedactingFilter


def _logged(message: str, *args: object) -> str:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, message, args or None, None)
    LogRedactingFilter().filter(record)
    return record.getMessage()


def test_an_errors_operation_named_token_is_not_read_as_a_token() -> None:
    line = "job failed: dynamics token: authority discovery failed: tenant unknown"
    assert _logged(line) == line
    assert _logged("%s", "dynamics token: token request failed: invalid_client") == (
        "dynamics token: token request failed: invalid_client"
    )


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln more", "eyJhbGciOiJIUzI1NiJ9"),
        ("dynamics token: eyJhbGciOiJIUzI1NiJ9 was refused", "eyJhbGciOiJIUzI1NiJ9"),
        ("token: lowercaseword and then prose", "lowercaseword"),
        ("access_token: opaquevalue and more", "opaquevalue"),
        ("paytrace token: abcdef", "abcdef"),
        ("password: hunter2 was typed", "hunter2"),
    ],
)
def test_token_values_stay_masked(message: str, secret: str) -> None:
    assert secret not in _logged(message)
    assert "[REDACTED]" in _logged(message)


def test_card_numbers_are_masked_on_lines_with_prose_after_token() -> None:
    out = _logged("dynamics token: authority failed for 4111 1111 1111 1111")
    assert "4111 1111 1111 1111" not in out and out.startswith("dynamics token: authority failed")
