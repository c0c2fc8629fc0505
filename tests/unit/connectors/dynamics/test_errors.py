"""Every failure class maps to the right error; retries happen only where they are safe."""

from __future__ import annotations

import json

import httpx
import pytest

from paybridge.connectors.dynamics import ConcurrencyConflictError, NotFoundError, RequestLimiter
from paybridge.connectors.dynamics.error_map import Failure, map_error, parse_error_envelope
from paybridge.errors import ConfigError, DataError, FatalError, InDoubtError, RetryableError
from tests.unit.connectors.dynamics.fake_fo import FakeFO, odata_error, respond

pytestmark = pytest.mark.anyio

WRITE_FAILED = (
    "Write failed for table row of type 'CustCustomerV3Entity'. Infolog: Warning: The value "
    "'Local' in field 'Customer group' is not found in the related table 'Customer groups'.; "
    "Warning: validateField failed on field 'CustCustomerV3Entity.CustomerGroupId'."
)
AX_WRITE = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
KEY = {"dataAreaId": "dat", "CustomerAccount": "DAT-1"}


def test_envelope_walks_to_the_innermost_infolog() -> None:
    body = {
        "error": {
            "code": "",
            "message": "An error has occurred.",
            "innererror": {
                "message": "outer",
                "type": "T1",
                "internalexception": {"message": "Infolog: deep text", "type": "T2"},
            },
        }
    }
    info = parse_error_envelope(json.dumps(body))
    assert info is not None
    assert info.message == "Infolog: deep text"
    assert info.error_type == "T2"
    assert parse_error_envelope("<html/>") is None


async def test_400_infolog_is_a_data_error_with_fields_request_id_and_activity_id() -> None:
    fo = FakeFO(
        respond(
            400,
            odata_error("An error has occurred.", inner=WRITE_FAILED, kind=AX_WRITE),
            **{"ms-dyn-aid": "aid-9"},
        )
    )
    with pytest.raises(DataError) as caught:
        await fo.client().create("CustomersV3", {"dataAreaId": "dat"})
    error = caught.value
    assert error.message.startswith("Write failed for table row of type 'CustCustomerV3Entity'")
    assert "aid-9" in error.message
    assert error.request_id == "req-1"
    assert error.status == 400
    assert error.system == "dynamics"
    assert error.fields == {
        "CustomerGroupId": "Warning: The value 'Local' in field 'Customer group' is not found in "
        "the related table 'Customer groups'."
    }
    assert len(fo.requests) == 1


async def test_html_502_on_a_read_is_retried_then_retryable() -> None:
    fo = FakeFO(*[respond(502, GATEWAY, **{"content-type": "text/html"}) for _ in range(4)])
    with pytest.raises(RetryableError, match="502 Bad Gateway"):
        await fo.client().get("CustomersV3", KEY)
    assert len(fo.requests) == 4
    assert fo.sleeps == [0.5, 1.0, 2.0]


async def test_5xx_read_recovers_within_the_retry_budget() -> None:
    fo = FakeFO(
        respond(503, "busy"), httpx.ReadTimeout("slow"), respond(200, {"value": [{"a": 1}]})
    )
    assert await fo.client().query("CustomersV3") == [{"a": 1}]
    assert len(fo.requests) == 3


async def test_401_invalidates_the_token_and_replays_once() -> None:
    fo = FakeFO(respond(401, ""), respond(200, {"a": 1}))
    assert await fo.client().get("CustomersV3", KEY) == {"a": 1}
    assert fo.tokens.invalidations == 1
    assert len(fo.requests) == 2


async def test_second_401_is_a_config_error() -> None:
    fo = FakeFO(respond(401, ""), respond(401, ""))
    with pytest.raises(ConfigError, match="token rejected"):
        await fo.client().create("CustomersV3", {"dataAreaId": "dat"})
    assert len(fo.requests) == 2


async def test_403_is_a_config_error_without_retry() -> None:
    fo = FakeFO(respond(403, odata_error("Forbidden")))
    with pytest.raises(ConfigError, match="not registered"):
        await fo.client().get("CustomersV3", KEY)
    assert len(fo.requests) == 1


async def test_404_outside_get_is_not_found() -> None:
    fo = FakeFO(respond(404, odata_error("No resources were found when selecting for update")))
    with pytest.raises(NotFoundError):
        await fo.client().update("CustomersV3", KEY, {"A": "b"})


async def test_412_is_a_concurrency_conflict() -> None:
    fo = FakeFO(respond(412, odata_error("precondition failed")))
    with pytest.raises(ConcurrencyConflictError) as caught:
        await fo.client().update("CustomersV3", KEY, {"A": "b"}, if_match='W/"old"')
    assert isinstance(caught.value, FatalError)
    assert len(fo.requests) == 1


async def test_429_honours_retry_after_then_succeeds() -> None:
    fo = FakeFO(
        respond(429, odata_error("high resource utilization"), **{"Retry-After": "7"}), respond(204)
    )
    await fo.client().delete("CustomersV3", KEY)
    assert fo.sleeps == [7.0]
    assert len(fo.requests) == 2


async def test_429_without_retry_after_waits_30_seconds() -> None:
    fo = FakeFO(respond(429, ""), respond(200, {"a": 1}))
    await fo.client().get("CustomersV3", KEY)
    assert fo.sleeps == [30.0]


async def test_429_http_date_retry_after() -> None:
    fo = FakeFO()
    date = "Mon, 05 Jan 2026 17:00:12 GMT"  # the fake clock reads 17:00:00
    fo.answers = [respond(429, "", **{"Retry-After": date}), respond(200, {"a": 1})]
    await fo.client().get("CustomersV3", KEY)
    assert fo.sleeps == [12.0]


async def test_429_goes_through_the_shared_limiter() -> None:
    fo = FakeFO(respond(429, "", **{"Retry-After": "5"}), respond(200, {"a": 1}))
    limiter = RequestLimiter(rate=10, burst=10, clock=fo.clock, sleep=fo.sleep)
    await fo.client(limiter=limiter).get("CustomersV3", KEY)
    assert fo.sleeps == [5.0]  # the limiter, not the client, held the retry
    assert limiter.rate == 5.0 + limiter.increase


async def test_429_exhausted_is_retryable_with_retry_after() -> None:
    fo = FakeFO(*[respond(429, "", **{"Retry-After": "3"}) for _ in range(2)])
    with pytest.raises(RetryableError) as caught:
        await fo.client(retries=1).get("CustomersV3", KEY)
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("reset"),
        respond(500, "oops"),
        respond(504, GATEWAY),
        respond(408, "Request Timeout"),  # a gateway's timeout may follow the forwarded write
    ],
)
async def test_ambiguous_write_is_in_doubt_and_never_resent(
    answer: httpx.Response | Exception,
) -> None:
    fo = FakeFO(answer)
    with pytest.raises(InDoubtError) as caught:
        await fo.client().create(
            "CustomerPaymentJournalLines", {"PaymentId": "pt:9"}, reference="pt:9"
        )
    assert caught.value.reference == "pt:9"
    assert len(fo.writes) == 1


async def test_in_doubt_without_reference_names_the_request() -> None:
    fo = FakeFO(httpx.ReadTimeout("timed out"))
    with pytest.raises(InDoubtError) as caught:
        await fo.client().update("X", {"K": "1"}, {"A": "b"})
    assert caught.value.reference == "req-1"
    assert caught.value.request_id == "req-1"


async def test_write_that_never_left_is_retried() -> None:
    fo = FakeFO(httpx.ConnectError("refused"), respond(201, {"ok": True}))
    assert await fo.client().create("X", {"A": "b"}) == {"ok": True}
    assert len(fo.writes) == 2


async def test_write_exception_in_a_500_is_a_definite_failure() -> None:
    fo = FakeFO(
        respond(500, odata_error("An error has occurred.", inner=WRITE_FAILED, kind=AX_WRITE))
    )
    with pytest.raises(DataError):
        await fo.client().create("CustomersV3", {"dataAreaId": "dat"})


def test_map_error_keeps_transport_details_out_of_writes_it_never_sent() -> None:
    failure = Failure("POST X", True, "r1", exception=httpx.ConnectTimeout("no route"))
    assert isinstance(map_error(failure), RetryableError)
    other = map_error(Failure("GET X", False, "r2", status=418, body="teapot"))
    assert type(other) is FatalError
    assert "teapot" in other.message
