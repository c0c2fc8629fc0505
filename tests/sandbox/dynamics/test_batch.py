"""``$batch``: multipart changesets, atomic rollback, the real failure shape, 5,000 lines fast."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from paybridge_sandbox.dynamics.batch import split_multipart
from tests.sandbox.dynamics.support import BASE, authorised, make_app
from tests.sandbox.dynamics.test_entities import LINES, new_journal, payment_line

CRLF = "\r\n"


def operation(content_id: int, method: str, url: str, body: dict[str, Any] | None) -> str:
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        f"Content-ID: {content_id}",
        "",
        f"{method} {url} HTTP/1.1",
        "Content-Type: application/json;odata.metadata=minimal",
        "OData-Version: 4.0",
        "",
    ]
    return CRLF.join(lines) + CRLF + (json.dumps(body) if body is not None else "") + CRLF


def batch_body(changesets: list[list[str]], singles: list[str] | None = None) -> str:
    out = []
    for n, ops in enumerate(changesets):
        inner = "".join(f"--changeset_{n}{CRLF}{op}" for op in ops) + f"--changeset_{n}--{CRLF}"
        out.append(
            f"--batch_x{CRLF}Content-Type: multipart/mixed; boundary=changeset_{n}"
            f"{CRLF}{CRLF}{inner}"
        )
    for op in singles or []:
        out.append(f"--batch_x{CRLF}{op}")
    return "".join(out) + f"--batch_x--{CRLF}"


async def send(client: httpx.AsyncClient, body: str) -> httpx.Response:
    return await client.post(
        "/data/$batch",
        content=body.encode(),
        headers={"Content-Type": "multipart/mixed; boundary=batch_x"},
    )


def inner_statuses(response: httpx.Response) -> list[int]:
    boundary = response.headers["content-type"].split("boundary=")[1]
    statuses = []
    for part in split_multipart(response.content, boundary):
        if part.headers["content-type"].startswith("multipart/mixed"):
            inner = part.headers["content-type"].split("boundary=")[1]
            parts = split_multipart(part.body, inner)
        else:
            parts = [part]
        for item in parts:
            statuses.append(int(item.body.split(b" ", 2)[1]))
    return statuses


@pytest.mark.anyio
async def test_changeset_commits_and_answers_each_part() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        ops = [
            operation(
                i,
                "POST",
                f"{BASE}/data/CustomerPaymentJournalLines",
                payment_line(batch, LineNumber=i),
            )
            for i in (1, 2)
        ]
        ops.append(
            operation(
                3,
                "PATCH",
                f"/data/CustomerPaymentJournalLines(dataAreaId='usmf',"
                f"JournalBatchNumber='{batch}',LineNumber=1)",
                {"PaymentNotes": "patched"},
            )
        )
        single = operation(9, "GET", "CustomerPaymentJournalLines/$count", None)
        response = await send(client, batch_body([ops], [single]))
        lines = (await client.get(LINES)).json()["value"]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert b"changesetresponse_" in response.content and b"Content-ID: 2" in response.content
    assert inner_statuses(response) == [201, 201, 204, 200]
    assert [line["PaymentNotes"] for line in lines] == ["patched", ""]


@pytest.mark.anyio
async def test_failed_changeset_rolls_back_as_one_500_part() -> None:
    async with await authorised(make_app()) as client:
        ops = [
            operation(1, "POST", "/data/CustomerGroups", {"CustomerGroupId": "Batch1"}),
            operation(2, "POST", "/data/CustomerGroups", {"CustomerGroupId": "Batch2"}),
            operation(3, "POST", "/data/CustomerGroups", {"CustomerGroupId": "Batch2"}),
        ]
        good = [operation(4, "POST", "/data/CustomerGroups", {"CustomerGroupId": "Other"})]
        response = await send(client, batch_body([ops, good]))
        groups = await client.get("/data/CustomerGroups", params={"$select": "CustomerGroupId"})
    assert response.status_code == 200
    assert inner_statuses(response) == [500, 201]
    assert b"HTTP/1.1 500 Internal Server Error" in response.content
    assert b"AxODataWriteException" in response.content
    assert b"The record already exists." in response.content
    names = {g["CustomerGroupId"] for g in groups.json()["value"]}
    assert "Other" in names and not {"Batch1", "Batch2"} & names


@pytest.mark.anyio
async def test_content_id_reference_and_lf_line_endings() -> None:
    async with await authorised(make_app()) as client:
        ops = [
            operation(1, "POST", "/data/CustomerGroups", {"CustomerGroupId": "Ref"}),
            operation(2, "PATCH", "$1", {"Description": "via reference"}),
        ]
        body = batch_body([ops]).replace(CRLF, "\n")
        response = await send(client, body)
        group = await client.get("/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='Ref')")
    assert inner_statuses(response) == [201, 204]
    assert group.json()["Description"] == "via reference"


@pytest.mark.anyio
async def test_batch_limits_and_bad_bodies() -> None:
    async with await authorised(make_app(max_batch_operations=2)) as client:
        ops = [
            operation(i, "POST", "/data/CustomerGroups", {"CustomerGroupId": f"G{i}"})
            for i in range(3)
        ]
        too_big = await send(client, batch_body([ops]))
        no_boundary = await client.post(
            "/data/$batch", content=b"x", headers={"Content-Type": "multipart/mixed"}
        )
    assert too_big.status_code == 400
    assert no_boundary.status_code == 400


@pytest.mark.anyio
async def test_five_thousand_journal_lines_in_one_batch() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        ops = [
            operation(
                i,
                "POST",
                "/data/CustomerPaymentJournalLines",
                payment_line(batch, LineNumber=i, PaymentReference=f"PT-{i}"),
            )
            for i in range(1, 5001)
        ]
        body = batch_body([ops[:2500], ops[2500:]])
        response = await send(client, body)
        count = await client.get(f"{LINES}/$count")
    assert response.status_code == 200
    assert inner_statuses(response) == [201] * 5000
    assert count.text == "5000"
