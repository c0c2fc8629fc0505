"""Our responses have the shape of real F&O responses (shared/conformance/dynamics)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import conformance_dir
from tests.sandbox.dynamics.support import authorised, make_app

ETAG = re.compile(r"^W/\"([A-Za-z0-9+/=]+)\"$")
PAIRS = re.compile(r"^'\d+,\d+(;\d+,\d+)*'$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# Real environments carry fields our (reference-metadata) lists lack: extensions/localisations.
REAL_ONLY_ALLOWED = {
    "CustomersV3",
    "LedgerJournalLines",
    "SalesOrderLinesV3",
    "CustomerPaymentMethods",
    "LegalEntities",
    "Currencies",
    "MainAccounts",
    "PaymentTerms",
    "CustomerGroups",
    "SalesOrderHeadersV2",
}


def real_rows() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """entity set -> [(context kind, row)] from every recorded response body."""
    folder: Path = conformance_dir("dynamics") / "nango-recorded"
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted(folder.glob("*.json")):
        for call in json.loads(path.read_text())["calls"]:
            body = call["response_body"]
            if not isinstance(body, dict) or "@odata.context" not in body:
                continue
            suffix = body["@odata.context"].split("#", 1)[1]
            entity_set = suffix.split("/")[0].split("(")[0]
            rows = body.get("value", [body])
            found.setdefault(entity_set, []).extend((suffix, r) for r in rows)
    return found


async def our_row(client: httpx.AsyncClient, entity_set: str) -> dict[str, Any]:
    if entity_set in {
        "CustomerPaymentJournalHeaders",
        "CustomerPaymentJournalLines",
        "LedgerJournalHeaders",
        "LedgerJournalLines",
    }:
        await seed_journals(client)
    response = await client.get(
        f"/data/{entity_set}", params={"$top": "1", "cross-company": "true"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["@odata.context"].endswith(f"/data/$metadata#{entity_set}")
    rows: list[dict[str, Any]] = response.json()["value"]
    assert rows, entity_set
    return rows[0]


async def seed_journals(client: httpx.AsyncClient) -> None:
    if (await client.get("/data/LedgerJournalLines")).json()["value"]:
        return
    pay = (
        await client.post("/data/CustomerPaymentJournalHeaders", json={"JournalName": "CustPay"})
    ).json()["JournalBatchNumber"]
    await client.post(
        "/data/CustomerPaymentJournalLines",
        json={
            "JournalBatchNumber": pay,
            "AccountType": "Cust",
            "AccountDisplayValue": "US\\-002",
            "CreditAmount": 2500,
            "MarkedInvoice": "CIV-000102",
        },
    )
    gen = (await client.post("/data/LedgerJournalHeaders", json={"JournalName": "GenJrn"})).json()[
        "JournalBatchNumber"
    ]
    await client.post(
        "/data/LedgerJournalLines",
        json={
            "JournalBatchNumber": gen,
            "AccountType": "Ledger",
            "AccountDisplayValue": "601500",
            "DebitAmount": 50,
            "OffsetAccountType": "Ledger",
            "OffsetAccountDisplayValue": "110110",
        },
    )


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str) and STAMP.match(value):
        return "datetime"
    return "null" if value is None else type(value).__name__


def etag_pairs(tag: str) -> int:
    m = ETAG.match(tag)
    assert m, tag
    decoded = base64.b64decode(m.group(1)).decode()
    assert PAIRS.match(decoded), decoded
    return decoded.count(";") + 1


@pytest.mark.anyio
async def test_entity_shapes_match_real_responses() -> None:
    recorded = real_rows()
    app = make_app()
    checked = []
    async with await authorised(app) as client:
        for entity_set, samples in recorded.items():
            if entity_set not in app.state.sandbox.schema.sets:
                continue
            ours = await our_row(client, entity_set)
            real = samples[0][1]
            compare(entity_set, ours, real)
            checked.append(entity_set)
    assert {
        "CustomersV3",
        "CustomerPaymentJournalHeaders",
        "CustomerPaymentJournalLines",
        "LedgerJournalHeaders",
        "SalesOrderHeadersV2",
    } <= set(checked)


def compare(entity_set: str, ours: dict[str, Any], real: dict[str, Any]) -> None:
    our_names = [k for k in ours if not k.startswith("@")]
    real_names = [k for k in real if not k.startswith("@") and not k.startswith("_")]
    missing_in_real = set(our_names) - set(real_names)
    assert missing_in_real == set(), (entity_set, missing_in_real)
    if entity_set not in REAL_ONLY_ALLOWED:
        assert our_names == real_names, entity_set
    assert etag_pairs(ours["@odata.etag"]) == etag_pairs(real["@odata.etag"]), entity_set
    for name in our_names:
        ours_kind, real_kind = json_kind(ours[name]), json_kind(real[name])
        if "null" in (ours_kind, real_kind):
            continue  # enums are occasionally null in real data
        assert ours_kind == real_kind, (entity_set, name, ours[name], real[name])
        if ours_kind == "datetime" and real[name].endswith("T12:00:00Z"):
            assert ours[name].endswith("T12:00:00Z"), (entity_set, name, ours[name])


@pytest.mark.anyio
async def test_context_select_and_count_match_blog_captures() -> None:
    folder = conformance_dir("dynamics") / "blog-smarttalks"
    real_select = json.loads((folder / "customergroups_select.json").read_text())
    real_count = json.loads((folder / "customergroups_count_top1.json").read_text())
    async with await authorised(make_app()) as client:
        select = await client.get(
            "/data/CustomerGroups", params={"$top": "2", "$select": "dataAreaId,CustomerGroupId"}
        )
        count = await client.get("/data/CustomerGroups", params={"$count": "true", "$top": "1"})
        bare = await client.get("/data/CustomerGroups/$count")
    suffix = real_select["@odata.context"].split("/data/", 1)[1]
    assert select.json()["@odata.context"].endswith("/data/" + suffix)
    assert [list(r) for r in select.json()["value"]] == [list(r) for r in real_select["value"]]
    assert list(count.json()) == [k for k in real_count if not k.startswith("_")]
    assert count.json()["@odata.count"] == 5
    assert bare.text == "5" and bare.headers["content-type"].startswith("text/plain")


@pytest.mark.anyio
async def test_error_envelope_matches_real_batch_failure_part() -> None:
    text = (
        conformance_dir("dynamics") / "blog-smarttalks" / "batch_response_changeset_failure.txt"
    ).read_text()
    real = json.loads(text[text.index("{") : text.rindex("}") + 1])
    async with await authorised(make_app()) as client:
        await client.post("/data/CustomerGroups", json={"CustomerGroupId": "Batch2"})
        dup = await client.post("/data/CustomerGroups", json={"CustomerGroupId": "Batch2"})
    ours = dup.json()
    assert list(ours["error"]) == list(real["error"])
    assert list(ours["error"]["innererror"]) == list(real["error"]["innererror"])
    assert ours["error"]["innererror"]["type"] == real["error"]["innererror"]["type"]
    assert "The record already exists." in ours["error"]["innererror"]["message"]
