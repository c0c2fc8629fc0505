"""PayTraceClient: every mapping rule, retries, in-doubt writes and the shared token."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import anyio
import httpx
import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import (
    CaptureRequest,
    CreditCard,
    CustomerSaleRequest,
    ExportByDateRangeRequest,
    KeyedSaleRequest,
    TransactionResponse,
)
from paybridge.errors import (
    ConfigError,
    DataError,
    DeclinedError,
    FatalError,
    InDoubtError,
    RetryableError,
)
from tests.unit.connectors.paytrace.scripted import (
    APPROVED_SALE,
    EXPORT_OK,
    TOKEN_PATH,
    ScriptedPayTrace,
    SleepRecorder,
    json_reply,
    make_client,
)

pytestmark = pytest.mark.anyio

SALE = "/v1/transactions/sale/keyed"
BY_CUSTOMER = "/v1/transactions/sale/by_customer"
EXPORT = "/v1/transactions/export/by_date_range"
PAN = "4012000098765439"


def keyed_sale(**extra: object) -> KeyedSaleRequest:
    card = CreditCard(number=PAN, expiration_month="12", expiration_year="2026")
    fields: dict[str, object] = {"amount": Decimal("12.3"), "credit_card": card, "csc": "999"}
    fields.update(extra)
    return KeyedSaleRequest.model_validate(fields)


def export_request() -> ExportByDateRangeRequest:
    return ExportByDateRangeRequest(start_date=date(2026, 1, 1), end_date=date(2026, 1, 5))


async def test_approved_sale_sends_what_paytrace_expects() -> None:
    server = ScriptedPayTrace()
    server.script(SALE, json_reply(APPROVED_SALE, headers={"X-Request-Id": "rid-1"}))
    client, http = make_client(server)
    async with http:
        result = await client.sale_keyed(keyed_sale(invoice_id="INV-1"))
    assert isinstance(result, TransactionResponse)
    assert result.transaction_id == 125391271
    (login,) = server.sent(TOKEN_PATH)
    assert login.headers["content-type"] == "application/x-www-form-urlencoded"
    assert login.content == b"grant_type=password&username=api-user&password=s3cret-pw"
    (sale,) = server.sent(SALE)
    assert sale.headers["authorization"] == "Bearer tok-1"
    assert sale.headers["content-type"] == "application/json"
    body = json.loads(sale.content)
    assert body["integrator_id"] == "INTEGRATOR12"
    assert body["amount"] == "12.30"
    assert body["credit_card"]["number"] == PAN
    assert body["csc"] == "999"
    assert body["invoice_id"] == "INV-1"
    assert "description" not in body  # None fields are left out


@pytest.mark.parametrize(
    ("code", "message", "reason_part"),
    [
        (102, "    DECLINE - Do not honor", "Do not honor"),
        (102, "  EXPIRED CARD - Expired card", "expired"),
        (103, "", "voided because the address"),
        (107, "", "refund did not succeed"),
        (110, "", "void did not succeed"),
        (113, "", "capture did not succeed"),
        (125, "", "check was not processed"),
    ],
)
async def test_declines_raise_declined_error(code: int, message: str, reason_part: str) -> None:
    server = ScriptedPayTrace()
    body = {
        "success": code == 103,
        "response_code": code,
        "status_message": "Your transaction was not approved.",
        "transaction_id": 392501201,
        "approval_code": "",
        "approval_message": message,
    }
    server.script(SALE, json_reply(body, headers={"X-Request-Id": "rid-9"}))
    client, http = make_client(server)
    async with http:
        with pytest.raises(DeclinedError) as caught:
            await client.sale_keyed(keyed_sale(invoice_id="INV-2"))
    error = caught.value
    assert reason_part.lower() in error.reason.lower()
    assert error.response_code == code
    assert error.transaction_id == "392501201"
    assert error.request_id == "rid-9"
    assert error.system == "paytrace"
    assert error.operation == "sale_keyed"
    assert len(server.sent(SALE)) == 1  # a decline is never retried


async def test_validation_errors_become_data_error_with_each_code() -> None:
    server = ScriptedPayTrace()
    body = {
        "success": False,
        "response_code": 1,
        "status_message": "One or more errors has occurred.",
        "errors": {
            "35": ["Please provide a valid Credit Card Number."],
            "43": ["Please provide a valid Expiration Month."],
        },
    }
    server.script(SALE, json_reply(body, 400))
    client, http = make_client(server)
    async with http:
        with pytest.raises(DataError) as caught:
            await client.sale_keyed(keyed_sale())
    assert caught.value.fields == {
        "35": "Please provide a valid Credit Card Number.",
        "43": "Please provide a valid Expiration Month.",
    }
    assert "35" in caught.value.message
    assert "43" in caught.value.message
    assert caught.value.status == 400


async def test_permission_error_is_config_error() -> None:
    server = ScriptedPayTrace()
    body = {"success": False, "response_code": 1, "errors": {"981": ["Log in failed for x."]}}
    server.script(SALE, json_reply(body, 400))
    client, http = make_client(server)
    async with http:
        with pytest.raises(ConfigError):
            await client.sale_keyed(keyed_sale())


async def test_invalid_grant_is_config_error_and_nothing_is_charged() -> None:
    server = ScriptedPayTrace()
    server.script(
        TOKEN_PATH, json_reply({"error": "invalid_grant", "error_description": "bad login"}, 400)
    )
    client, http = make_client(server)
    async with http:
        with pytest.raises(ConfigError) as caught:
            await client.sale_keyed(keyed_sale())
    assert "invalid_grant" in caught.value.message
    assert server.sent(SALE) == []
    assert len(server.sent(TOKEN_PATH)) == 1  # a refused login is not retried


async def test_invalid_token_relogs_once_and_replays() -> None:
    server = ScriptedPayTrace()
    expired = json_reply({"error": "invalid_token", "error_description": "expired"}, 401)
    server.script(SALE, expired, json_reply(APPROVED_SALE))
    client, http = make_client(server)
    async with http:
        result = await client.sale_keyed(keyed_sale())
    assert result.response_code == 101
    assert server.logins == 2
    assert [r.headers["authorization"] for r in server.sent(SALE)] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_invalid_token_twice_is_config_error() -> None:
    server = ScriptedPayTrace()
    server.script(SALE, httpx.Response(401, text="<html>Unauthorized</html>"))
    client, http = make_client(server)
    async with http:
        with pytest.raises(ConfigError):
            await client.sale_keyed(keyed_sale())
    assert server.logins == 2
    assert len(server.sent(SALE)) == 2


async def test_read_5xx_is_retried_then_retryable_error() -> None:
    server = ScriptedPayTrace()
    server.script(EXPORT, httpx.Response(503, text="<html>down</html>"))
    sleep = SleepRecorder()
    client, http = make_client(server, sleep=sleep)
    async with http:
        with pytest.raises(RetryableError) as caught:
            await client.export_by_date_range(export_request())
    assert len(server.sent(EXPORT)) == 3  # first try + retries=2
    assert sleep.waits == [0.5, 1.0]
    assert caught.value.status == 503
    assert "down" in (caught.value.body or "")


async def test_read_honours_retry_after_then_succeeds() -> None:
    server = ScriptedPayTrace()
    server.script(
        EXPORT,
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(502, text="bad gateway"),
        json_reply(EXPORT_OK),
    )
    sleep = SleepRecorder()
    client, http = make_client(server, sleep=sleep)
    async with http:
        assert await client.export_by_date_range(export_request()) == []
    assert sleep.waits == [7.0, 1.0]  # Retry-After first, then the second backoff step


async def test_json_error_bodies_on_429_and_5xx_are_transient() -> None:
    server = ScriptedPayTrace()
    server.script(
        EXPORT,
        json_reply({"error": "too_many_requests"}, 429, headers={"Retry-After": "2"}),
        json_reply({"error": "service_unavailable"}, 503),
        json_reply(EXPORT_OK),
    )
    sleep = SleepRecorder()
    client, http = make_client(server, sleep=sleep)
    async with http:
        assert await client.export_by_date_range(export_request()) == []
    assert sleep.waits == [2.0, 1.0]


async def test_retry_after_http_date_and_too_long_wait() -> None:
    server = ScriptedPayTrace()
    headers = {
        "Retry-After": "Mon, 05 Jan 2026 17:10:00 GMT",
        "Date": "Mon, 05 Jan 2026 17:00:00 GMT",
    }
    server.script(EXPORT, httpx.Response(429, headers=headers))
    sleep = SleepRecorder()
    client, http = make_client(server, sleep=sleep, max_retry_wait=30.0)
    async with http:
        with pytest.raises(RetryableError) as caught:
            await client.export_by_date_range(export_request())
    assert caught.value.retry_after == 600.0
    assert sleep.waits == []  # longer than the client waits: left to the queue
    assert len(server.sent(EXPORT)) == 1


async def test_transport_error_on_read_is_retried() -> None:
    server = ScriptedPayTrace()
    server.script(EXPORT, httpx.ReadTimeout("slow"), json_reply(EXPORT_OK))
    client, http = make_client(server)
    async with http:
        assert await client.export_by_date_range(export_request()) == []
    assert len(server.sent(EXPORT)) == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="Internal Server Error"),
        httpx.Response(502, content=b'{"message": "bad gateway"}'),
        httpx.Response(200, content=b'{"success": tr'),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx.ReadError("connection reset by peer"),
    ],
    ids=["500", "502-json", "truncated", "timeout", "incomplete", "reset"],
)
async def test_money_write_in_doubt_is_never_resent(failure: httpx.Response | Exception) -> None:
    server = ScriptedPayTrace()
    server.script(SALE, failure)
    sleep = SleepRecorder()
    client, http = make_client(server, sleep=sleep)
    async with http:
        with pytest.raises(InDoubtError) as caught:
            await client.sale_keyed(keyed_sale(invoice_id="INV-77", description="order 77"))
    assert caught.value.reference == "INV-77"
    assert len(server.sent(SALE)) == 1
    assert sleep.waits == []


async def test_in_doubt_reference_falls_back_to_description() -> None:
    server = ScriptedPayTrace()
    server.script(BY_CUSTOMER, httpx.ReadTimeout("timed out"))
    client, http = make_client(server)
    async with http:
        request = CustomerSaleRequest(customer_id="c1", amount="5", description="PB-key-1")
        with pytest.raises(InDoubtError) as caught:
            await client.sale_by_customer(request)
    assert caught.value.reference == "PB-key-1"


async def test_capture_in_doubt_names_the_transaction() -> None:
    server = ScriptedPayTrace()
    server.script("/v1/transactions/authorization/capture", httpx.Response(504))
    client, http = make_client(server)
    async with http:
        with pytest.raises(InDoubtError) as caught:
            await client.capture(CaptureRequest(transaction_id=392442990))
    assert caught.value.reference == "392442990"


async def test_connect_error_and_429_on_a_sale_are_retryable_without_resend() -> None:
    for failure in (httpx.ConnectError("refused"), httpx.Response(429)):
        server = ScriptedPayTrace()
        server.script(SALE, failure)
        client, http = make_client(server)
        async with http:
            with pytest.raises(RetryableError):
                await client.sale_keyed(keyed_sale(invoice_id="INV-3"))
        assert len(server.sent(SALE)) == 1


async def test_non_json_refusals() -> None:
    server = ScriptedPayTrace()
    blocked = f"<html>Request blocked: card={PAN} csc=999</html>"
    server.script(SALE, httpx.Response(403, text=blocked))
    server.script(EXPORT, httpx.Response(404, text="<html>Not Found</html>"))
    client, http = make_client(server)
    async with http:
        with pytest.raises(FatalError) as fatal:
            await client.sale_keyed(keyed_sale())
        with pytest.raises(ConfigError):
            await client.export_by_date_range(export_request())
    body = fatal.value.body or ""
    assert PAN not in body
    assert "xxxxxxxxxxxx5439" in body
    assert "999" not in body


async def test_concurrent_calls_share_one_login() -> None:
    server = ScriptedPayTrace()
    server.login_pause = 5
    server.script(EXPORT, json_reply(EXPORT_OK))
    client, http = make_client(server)
    async with http, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(client.export_by_date_range, export_request())
    assert server.logins == 1
    assert len(server.sent(EXPORT)) == 20


async def test_token_is_reused_until_expiry_then_renewed() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    server = ScriptedPayTrace()
    server.script(EXPORT, json_reply(EXPORT_OK))
    client, http = make_client(server, clock=clock)
    async with http:
        await client.export_by_date_range(export_request())
        clock.advance(7200 - 301)
        await client.export_by_date_range(export_request())
        assert server.logins == 1
        clock.advance(2)  # inside the 5-minute safety margin
        await client.export_by_date_range(export_request())
    assert server.logins == 2


async def test_token_created_at_from_server_sets_expiry() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    issued = int(clock.now().timestamp()) - 100  # the server minted it 100 s ago
    server = ScriptedPayTrace()
    server.script(
        TOKEN_PATH,
        json_reply({"access_token": "a", "expires_in": 7200, "created_at": issued}),
        json_reply({"access_token": "b", "expires_in": 7200}),
    )
    server.script(EXPORT, json_reply(EXPORT_OK))
    client, http = make_client(server, clock=clock)
    async with http:
        await client.export_by_date_range(export_request())
        clock.advance(7200 - 300 - 100 + 1)
        await client.export_by_date_range(export_request())
    assert [r.headers["authorization"] for r in server.sent(EXPORT)] == ["Bearer a", "Bearer b"]


async def test_debug_logging_never_shows_card_data_or_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = ScriptedPayTrace()
    server.script(SALE, json_reply(APPROVED_SALE))
    client, http = make_client(server)
    with caplog.at_level(logging.DEBUG, logger="paybridge.connectors.paytrace"):
        async with http:
            await client.sale_keyed(keyed_sale())
    text = caplog.text
    assert "sale/keyed" in text
    for secret in (PAN, '"999"', "'999'", "INTEGRATOR12", "s3cret-pw", "tok-1"):
        assert secret not in text


def _export(*records: dict[str, object]) -> httpx.Response:
    return json_reply({**EXPORT_OK, "transactions": list(records)})


async def test_an_export_reread_validates_only_what_changed_and_keeps_every_change() -> None:
    # A poller reads the whole day on every poll: a record that comes back exactly as before
    # is the record validated before; any change, a new record or a bad one is read afresh.
    first = {"transaction_id": 1, "transaction_type": "SALE", "amount": "10.00",
             "status_message": "Approved", "created": {"at": "1/5/2026 10:00:00 AM"}}  # fmt: skip
    second = {**first, "transaction_id": 2, "amount": "20.00"}
    voided = {**first, "status_message": "Voided"}
    server = ScriptedPayTrace()
    server.script(
        EXPORT,
        _export(first, second),
        _export(first, second),
        _export(voided, second, {**second, "transaction_id": 3}),
        *[_export(voided, {"transaction_id": "not a number"})] * 3,  # the read and its 2 retries
        _export(voided, {**second, "amount": "21.00"}),
        _export(first),
    )
    client, http = make_client(server)
    async with http:
        one = await client.export_by_date_range(export_request())
        two = await client.export_by_date_range(export_request())
        assert [r.transaction_id for r in two] == [1, 2]
        assert two[0] is one[0] and two[1] is one[1]
        three = await client.export_by_date_range(export_request())
        assert [r.status_message for r in three] == ["Voided", "Approved", "Approved"]
        assert three[0] is not one[0] and three[1] is one[1]
        with pytest.raises(RetryableError):  # a malformed record: the read is repeated
            await client.export_by_date_range(export_request())
        five = await client.export_by_date_range(export_request())
        assert five[0] is three[0]  # the failed read left the memo as it was
        assert five[1].amount == Decimal("21.00")
        # A narrower export of another kind is a memo of its own.
        narrow = ExportByDateRangeRequest(start_date=date(2026, 1, 1), end_date=date(2026, 1, 5),
                                          transaction_type="VOID")  # fmt: skip
        (other,) = await client.export_by_date_range(narrow)
        assert other.status_message == "Approved" and other is not one[0]
