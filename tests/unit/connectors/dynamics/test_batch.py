"""$batch: the multipart we send, the parts we read back, chunking and ambiguity."""

from __future__ import annotations

import httpx
import pytest

from paybridge.connectors.dynamics import BatchOperation
from paybridge.connectors.dynamics.batch import build_batch, parse_batch_response, plan_requests
from paybridge.errors import ConfigError, DataError, InDoubtError, RetryableError
from tests.unit.connectors.dynamics.fake_fo import BASE, FakeFO, respond

CRLF = "\r\n"


def _line(n: int, ref: str) -> BatchOperation:
    body = {"dataAreaId": "dat", "JournalBatchNumber": "DAT-1", "LineNumber": n, "PaymentId": ref}
    return BatchOperation("POST", "CustomerPaymentJournalLines", body=body, reference=ref)


def _inner(status: str, cid: str, body: str = "") -> str:
    head = f"Content-Type: application/http{CRLF}Content-Transfer-Encoding: binary{CRLF}"
    head += f"Content-ID: {cid}{CRLF}{CRLF}HTTP/1.1 {status}{CRLF}"
    if body:
        head += f"Content-Type: application/json; odata.metadata=minimal{CRLF}"
    return head + CRLF + body + CRLF


def _batch_answer(request: httpx.Request) -> httpx.Response:
    """Changeset 1 succeeds (parts out of order), changeset 2 fails with an inner 500."""
    part2 = _inner("201 Created", "2", '{"LineNumber":2}')
    part1 = _inner("201 Created", "1", '{"LineNumber":1,"Amt":1.50}')
    ok = f"--cs_ok{CRLF}{part2}--cs_ok{CRLF}{part1}--cs_ok--{CRLF}"
    failed = _inner(
        "500 Internal Server Error",
        "3",
        '{"error":{"code":"","message":"An error has occurred.","innererror":{"message":'
        "\"Write failed for table row of type 'LedgerJournalTransCustPaym'. Infolog: Error: "
        'Account DAT-9 does not exist.","type":"AxODataWriteException"}}}',
    )
    text = (
        f"--batchresponse_x{CRLF}Content-Type: multipart/mixed; boundary=cs_ok{CRLF}{CRLF}{ok}"
        f"--batchresponse_x{CRLF}{failed}--batchresponse_x--{CRLF}"
    )
    return httpx.Response(
        200, text=text, headers={"content-type": "multipart/mixed; boundary=batchresponse_x"}
    )


def test_plan_never_splits_a_changeset() -> None:
    changesets = [[_line(i, "r")] * size for i, size in enumerate([3, 3, 2, 5])]
    assert plan_requests(changesets, limit=6) == [[0, 1], [2], [3]]
    with pytest.raises(ValueError, match="max 6"):
        plan_requests([[_line(1, "r")] * 7], limit=6)
    with pytest.raises(ValueError, match="empty"):
        plan_requests([[]])
    get = BatchOperation("GET", "CustomersV3", key={"dataAreaId": "dat", "CustomerAccount": "A"})
    with pytest.raises(ValueError, match="alone"):
        plan_requests([[get, _line(1, "r")]])


def test_request_body_has_the_blog_shape() -> None:
    ops = [[_line(1, "a"), _line(2, "b")]]
    content_type, body, ids = build_batch(ops, f"{BASE}/data", "b1")
    assert content_type == "multipart/mixed; boundary=batch_b1"
    assert ids == [["1", "2"]]
    text = body.decode()
    assert text.startswith(
        f"--batch_b1{CRLF}Content-Type: multipart/mixed; boundary=changeset_b1_0{CRLF}{CRLF}"
        f"--changeset_b1_0{CRLF}Content-Type: application/http{CRLF}"
        f"Content-Transfer-Encoding: binary{CRLF}Content-ID: 1{CRLF}{CRLF}"
        f"POST {BASE}/data/CustomerPaymentJournalLines HTTP/1.1{CRLF}OData-Version: 4.0{CRLF}"
    )
    assert text.endswith(f"--changeset_b1_0--{CRLF}--batch_b1--{CRLF}")
    assert text.count("Content-ID:") == 2
    assert '"LineNumber":2' in text


def test_get_travels_outside_a_changeset() -> None:
    get = BatchOperation("GET", "CustomersV3", key={"dataAreaId": "dat", "CustomerAccount": "A B"})
    _, body, _ = build_batch([[get]], f"{BASE}/data", "g")
    text = body.decode()
    assert "changeset" not in text
    assert f"GET {BASE}/data/CustomersV3(dataAreaId='dat',CustomerAccount='A%20B') HTTP/1.1" in text


def test_parse_handles_lf_only_bodies() -> None:
    text = _batch_answer(httpx.Request("POST", BASE)).text.replace(CRLF, "\n")
    units = parse_batch_response(text)
    assert [[r.status for r in unit] for unit in units] == [[201, 201], [500]]


@pytest.mark.anyio
async def test_batch_maps_each_part_back_to_its_operation() -> None:
    fo = FakeFO(_batch_answer)
    results = await fo.client().batch([[_line(1, "a"), _line(2, "b")], [_line(3, "c")]])
    assert len(fo.requests) == 1
    sent = fo.requests[0]
    assert str(sent.url) == f"{BASE}/data/$batch"
    assert sent.headers["content-type"].startswith("multipart/mixed; boundary=batch_req-1")
    first, second = results
    assert first.ok
    assert first.error is None
    assert [r.body["LineNumber"] for r in first.results] == [1, 2]  # by Content-ID, not position
    assert [r.status for r in first.results] == [201, 201]
    assert not second.ok
    assert isinstance(second.error, DataError)
    assert "Account DAT-9 does not exist" in second.error.message
    assert second.error.request_id == "req-2"  # req-1 named the multipart boundary
    with pytest.raises(DataError):
        second.raise_for_error()


@pytest.mark.anyio
async def test_changesets_the_server_never_answered_are_retryable() -> None:
    fo = FakeFO(_batch_answer)
    results = await fo.client().batch(
        [[_line(1, "a"), _line(2, "b")], [_line(3, "c")], [_line(4, "d")]]
    )
    assert isinstance(results[2].error, RetryableError)


@pytest.mark.anyio
async def test_batch_timeout_leaves_every_changeset_in_doubt_and_is_not_resent() -> None:
    fo = FakeFO(httpx.ReadTimeout("timed out"))
    results = await fo.client().batch([[_line(1, "a")], [_line(2, "b")]])
    assert len(fo.requests) == 1
    assert all(isinstance(r.error, InDoubtError) for r in results)
    error = results[0].error
    assert isinstance(error, InDoubtError)
    assert error.reference == "a,b"


@pytest.mark.anyio
async def test_batch_auth_failure_raises() -> None:
    fo = FakeFO(respond(403, ""))
    with pytest.raises(ConfigError):
        await fo.client().batch([[_line(1, "a")]])


@pytest.mark.anyio
async def test_more_than_5000_operations_take_two_requests() -> None:
    def ok(request: httpx.Request) -> httpx.Response:
        changesets = request.content.count(b"boundary=changeset_")
        parts = "".join(f"--cs{CRLF}{_inner('204 No Content', str(i + 1))}" for i in range(2500))
        unit = f"--b{CRLF}Content-Type: multipart/mixed; boundary=cs{CRLF}{CRLF}{parts}--cs--{CRLF}"
        return httpx.Response(
            200,
            text=unit * changesets + "--b--",
            headers={"content-type": "multipart/mixed; boundary=b"},
        )

    fo = FakeFO(ok, ok)
    big = [[_line(i, f"r{i}") for i in range(2500)] for _ in range(3)]
    results = await fo.client().batch(big)
    assert len(fo.requests) == 2
    assert [fo.requests[i].content.count(b"Content-ID:") for i in (0, 1)] == [5000, 2500]
    assert all(r.ok for r in results)
    assert len(results) == 3
