"""Real F&O traffic (shared/conformance/dynamics) replayed through the client and the parsers."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pytest

from paybridge.connectors.dynamics import (
    BatchOperation,
    DynamicsClient,
    Expand,
    Query,
    Raw,
    RecordExistsError,
    parse_metadata,
    wire,
)
from paybridge.connectors.dynamics.batch import build_batch, match_results, parse_batch_response
from paybridge.connectors.dynamics.entities import ENTITY_TYPES, CustomerPaymentJournalLine
from paybridge.errors import DataError
from tests.conftest import conformance_dir
from tests.unit.connectors.dynamics.fake_fo import BASE, FakeFO

_KEY_PART = re.compile(r"(\w+)=('(?:[^']|'')*'|[^,]+)")


def _recordings(group: str) -> list[Path]:
    return sorted((conformance_dir("dynamics") / group).glob("*.json"))


def _parse_key(text: str) -> dict[str, object]:
    key: dict[str, object] = {}
    for name, raw in _KEY_PART.findall(text):
        key[name] = raw[1:-1].replace("''", "'") if raw.startswith("'") else int(raw)
    return key


def _query_of(options: dict[str, str]) -> Query:
    return Query(
        filter=Raw(options["$filter"]) if "$filter" in options else None,
        orderby=options["$orderby"].split(",") if "$orderby" in options else None,
        top=int(options["$top"]) if "$top" in options else None,
        skip=int(options["$skip"]) if "$skip" in options else None,
        count=options.get("$count") == "true",
        cross_company=options.get("cross-company") == "true",
    )


async def _replay(client: DynamicsClient, call: dict[str, Any]) -> Any:
    path = call["path"].removeprefix("/data/")
    match = re.fullmatch(r"(\w+)\((.*)\)", path)
    if call["method"] == "POST":
        return await client.create(path, call["request_body"])
    if match is None:
        return await client.query(path, _query_of(call["query"]))
    entity_set, key = match.group(1), _parse_key(match.group(2))
    if call["method"] == "GET":
        return await client.get(entity_set, key)
    if call["method"] == "PATCH":
        return await client.update(entity_set, key, call["request_body"])
    return await client.delete(entity_set, key)


def _answer(call: dict[str, Any]) -> httpx.Response:
    body = call["response_body"]
    status = {"POST": 201, "PATCH": 204, "DELETE": 204}.get(call["method"], 200)
    if status == 204:
        return httpx.Response(204)
    return httpx.Response(status, content=json.dumps(body).encode())


@pytest.mark.anyio
@pytest.mark.parametrize("recording", _recordings("nango-recorded"), ids=lambda p: p.stem)
async def test_nango_calls_replay_with_identical_requests(recording: Path) -> None:
    calls = json.loads(recording.read_text())["calls"]
    fo = FakeFO(*[_answer(call) for call in calls])
    client = fo.client()
    for call in calls:
        result = await _replay(client, call)
        request = fo.requests[-1]
        assert request.method == call["method"]
        url = urlsplit(str(request.url))
        assert unquote(url.path) == call["path"].replace("%20", " ")
        assert dict(parse_qsl(url.query)) == call["query"]
        if call["method"] == "POST":
            assert json.loads(request.content) == call["request_body"]
            assert result["@odata.context"].endswith("/$entity")
        elif call["method"] == "GET" and "value" in call["response_body"]:
            assert len(result) == len(call["response_body"]["value"])
        elif call["method"] == "GET":
            assert result is not None
            assert result["@odata.etag"].startswith('W/"')


@pytest.mark.parametrize("recording", _recordings("nango-recorded"), ids=lambda p: p.stem)
def test_nango_entities_parse_into_typed_dtos(recording: Path) -> None:
    for call in json.loads(recording.read_text())["calls"]:
        entity_set = call["path"].removeprefix("/data/").split("(")[0]
        dto = ENTITY_TYPES.get(entity_set)
        body = call["response_body"]
        if dto is None or not isinstance(body, dict):
            continue
        rows = wire.loads(json.dumps(body)).get("value") or [wire.loads(json.dumps(body))]
        for row in rows:
            parsed = dto.from_odata(row)
            assert parsed.key()["dataAreaId"] == "dat"
            assert parsed.model_extra is not None  # unknown F&O properties kept, not dropped


def test_payment_journal_line_values() -> None:
    folder = conformance_dir("dynamics") / "nango-recorded"
    doc = wire.loads((folder / "list-customer-payment-journal-lines.json").read_text())
    row = doc["calls"][0]["response_body"]["value"][0]
    line = CustomerPaymentJournalLine.model_validate(row)
    assert isinstance(line.CreditAmount, Decimal)
    assert line.customer_account is not None
    assert "\\" not in line.customer_account
    assert line.AccountDisplayValue is not None
    assert "\\-" in line.AccountDisplayValue
    assert line.TransactionDate is not None
    assert line.TransactionDate.year >= 2020
    body = line.to_body()
    assert body["TransactionDate"].endswith("T12:00:00Z")
    assert "@odata.etag" not in body


@pytest.mark.parametrize("recording", _recordings("blog-smarttalks"), ids=lambda p: p.stem)
def test_blog_responses_parse(recording: Path) -> None:
    doc = wire.loads(recording.read_text())
    rows = doc.get("value", [doc])
    assert rows
    assert all("@odata.etag" in row for row in rows)
    if "@odata.count" in doc:
        assert int(doc["@odata.count"]) >= len(rows)


def test_select_expand_request_renders_like_the_blog() -> None:
    query = Query(
        select=["SalesOrderNumber"],
        expand=[
            Expand("SalesOrderLines", select=["InventoryLotId", "ItemNumber", "SalesOrderNumber"])
        ],
        top=1,
    )
    params = dict(query.params())
    assert (
        params["$expand"] == "SalesOrderLines($select=InventoryLotId,ItemNumber,SalesOrderNumber)"
    )


def test_real_batch_request_shape_is_reproduced() -> None:
    blog = (conformance_dir("dynamics") / "blog-smarttalks" / "batch_request.txt").read_text()
    ops = [
        [
            BatchOperation("POST", "CustomerGroups", body={"CustomerGroupId": f"Batch{n}"})
            for n in (1, 2)
        ]
    ]
    _, body, _ = build_batch(ops, "https://{base}/data", "boundary")
    ours = body.decode().replace("\r\n", "\n")

    def skeleton(text: str) -> list[str]:
        keep = ("--", "Content-Type", "Content-Transfer", "Content-ID", "POST", "OData-")
        return [line.split("_")[0] for line in text.splitlines() if line.startswith(keep)]

    # Same part structure and headers; the blog omits the changeset's closing delimiter.
    assert [s for s in skeleton(ours) if s != "--changeset"] == [
        s for s in skeleton(blog)[2:] if s != "--changeset"
    ]


def test_real_failed_changeset_response_parses() -> None:
    text = (
        conformance_dir("dynamics") / "blog-smarttalks" / "batch_response_changeset_failure.txt"
    ).read_text()
    units = parse_batch_response(text)
    assert len(units) == 1
    assert units[0][0].status == 500
    ops = [
        [
            BatchOperation("POST", "CustomerGroups", body={"CustomerGroupId": f"B{n}"})
            for n in (1, 2)
        ]
    ]
    (result,) = match_results(ops, [["1", "2"]], units, "req-1")
    assert not result.ok
    assert isinstance(result.error, DataError)
    assert "The record already exists" in result.error.message
    # The typed refusal a journal-line writer re-plans on (a person's line took the number).
    assert isinstance(result.error, RecordExistsError)
    assert result.error.request_id == "req-1"


@pytest.mark.anyio
async def test_real_metadata_parses_through_the_client() -> None:
    xml = (
        conformance_dir("dynamics") / "metadata" / "real_trimmed_metadata_CustomerV3.xml"
    ).read_bytes()
    fo = FakeFO(httpx.Response(200, content=xml, headers={"content-type": "application/xml"}))
    client = fo.client()
    model = await client.metadata()
    assert await client.metadata() is model
    assert len(fo.requests) == 1
    assert str(fo.requests[0].url) == f"{BASE}/data/$metadata"
    customer = model.entity_type_of("CustomersV3")
    assert model.namespace == "Microsoft.Dynamics.DataEntities"
    assert model.container == "Resources"
    assert customer.keys == ("dataAreaId", "CustomerAccount")
    assert set(customer.required) == {"CustomerGroupId", "SalesCurrencyCode"}
    assert len(customer.properties) == 305
    fax = customer.properties["PrimaryContactFaxRecordId"]
    assert not fax.allow_edit
    assert not fax.allow_edit_on_create
    assert fax.type == "Edm.Int64"
    assert not customer.properties["dataAreaId"].nullable
    assert model.enum_types["NoYes"].members == {"No": 0, "Yes": 1}
    enum_props = [p for p in customer.properties.values() if p.is_enum]
    assert enum_props
    assert all(p.type.startswith("Microsoft.Dynamics.DataEntities.") for p in enum_props)
    assert (
        customer.navigations["CustomerProductDescriptions"].target_set
        == "CustomerProductDescriptions"
    )


def test_metadata_standalone() -> None:
    xml = (
        conformance_dir("dynamics") / "metadata" / "real_trimmed_metadata_CustomerV3.xml"
    ).read_text(encoding="utf-8-sig")
    assert parse_metadata(xml).entity_sets["CustomersV3"].entity_type.endswith("CustomerV3")
