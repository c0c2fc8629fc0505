"""A JSON custom service that threw in X++ rolled back: a definite refusal, not an unknown outcome."""

from __future__ import annotations

import json

from paybridge.connectors.dynamics.error_map import Failure, map_error, parse_error_envelope
from paybridge.errors import DataError, InDoubtError

SERVICE_FAILURE = json.dumps(
    {
        "Message": "Journal USMF-000001 is already posted.",
        "ExceptionType": "XppServicesException",
        "ActivityId": "6b0d7c1e-0000-0000-0000-000000000000",
    }
)


def test_a_custom_service_exception_body_is_read() -> None:
    info = parse_error_envelope(SERVICE_FAILURE)
    assert info is not None
    assert info.message == "Journal USMF-000001 is already posted."
    assert "XppServicesException" in info.error_type


def test_a_500_from_a_failed_service_is_a_data_error_not_in_doubt() -> None:
    error = map_error(
        Failure("POST api/services/x", is_write=True, status=500, body=SERVICE_FAILURE)
    )
    assert isinstance(error, DataError)
    assert "already posted" in error.message


def test_a_bare_500_on_a_write_stays_in_doubt() -> None:
    error = map_error(
        Failure("POST api/services/x", is_write=True, status=500, body="<html>oops</html>")
    )
    assert isinstance(error, InDoubtError)
