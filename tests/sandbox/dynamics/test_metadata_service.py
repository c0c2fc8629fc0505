"""The sandbox's /Metadata service, as F&O serves it: collections with query options, labels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from paybridge_sandbox.dynamics import create_app

BASE = "https://usmf.sandbox.operations.dynamics.com"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(), base_url=BASE) as http:
        form = {
            "grant_type": "client_credentials", "client_id": "sandbox-client",
            "client_secret": "sandbox-secret", "scope": f"{BASE}/.default",
        }  # fmt: skip
        token = http.post("/sandbox-tenant/oauth2/v2.0/token", data=form).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def _get(client: TestClient, path: str) -> Any:
    reply = client.get(f"/Metadata/{path}")
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_data_entities_filter_select_top_and_count(client: TestClient) -> None:
    sets = "PublicCollectionName eq 'CustomersV3' or PublicCollectionName eq 'CustTransactions'"
    rows = _get(client, f"DataEntities?$filter={sets}&$select=PublicCollectionName,IsReadOnly")
    found = {r["PublicCollectionName"]: r for r in rows["value"]}
    assert found == {
        "CustTransactions": {"PublicCollectionName": "CustTransactions", "IsReadOnly": True},
        "CustomersV3": {"PublicCollectionName": "CustomersV3", "IsReadOnly": False},
    }
    read_only = _get(client, "DataEntities?$filter=IsReadOnly eq true&$count=true&$top=1")
    assert read_only["@odata.count"] > 1 and len(read_only["value"]) == 1
    assert read_only["@odata.context"] == f"{BASE}/Metadata/$metadata#DataEntities"


def test_public_entities_as_a_collection_and_by_name(client: TestClient) -> None:
    rows = _get(
        client,
        "PublicEntities?$filter=Name eq 'CustomerPaymentJournal*'&$select=Name,EntitySetName",
    )
    assert {r["EntitySetName"] for r in rows["value"]} == {
        "CustomerPaymentJournalHeaders", "CustomerPaymentJournalLines",
    }  # fmt: skip
    one = _get(client, "PublicEntities('CustomerPaymentJournalLine')")
    names = {p["Name"]: p for p in one["Properties"]}
    assert names["PaymentId"]["LabelId"] and names["dataAreaId"]["IsKey"] is True


def test_enumerations_and_labels(client: TestClient) -> None:
    enum = _get(client, "PublicEnumerations('NoYes')")
    assert [(m["Name"], m["Value"]) for m in enum["Members"]] == [("No", 0), ("Yes", 1)]
    assert _get(client, "PublicEnumerations?$top=2&$select=Name")["value"][0].keys() == {"Name"}
    label = _get(client, "Labels(Id='@SYS12345',Language='en-us')")
    assert (label["Id"], label["Language"], label["Value"]) == ("@SYS12345", "en-us", "SYS12345")


def test_unknown_segments_and_functions_are_refused_like_fo(client: TestClient) -> None:
    assert client.get("/Metadata/Nope").status_code == 404
    assert client.get("/Metadata/PublicEntities('Nope')").status_code == 404
    assert client.get("/Metadata/DataEntities?$filter=contains(Name,'x')").status_code == 400
    assert client.get("/Metadata/DataEntities?$top=-1").status_code == 400
    client.headers.pop("Authorization")
    assert client.get("/Metadata/DataEntities").status_code == 401
