"""``$metadata`` (CSDL), the service document and the ``/Metadata`` REST service."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.sandbox.dynamics.support import BASE, authorised, make_app

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
CORE = "Microsoft.Dynamics.OData.Core.V1"


@pytest.mark.anyio
async def test_metadata_is_edmx_with_fo_namespace_container_and_annotations() -> None:
    async with await authorised(make_app()) as client:
        response = await client.get("/data/$metadata")
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own sandbox output
    assert root.tag == f"{EDMX}Edmx" and root.get("Version") == "4.0"
    schema = next(
        s
        for s in root.iter(f"{EDM}Schema")
        if s.get("Namespace") == "Microsoft.Dynamics.DataEntities"
    )
    container = schema.find(f"{EDM}EntityContainer")
    assert container is not None and container.get("Name") == "Resources"
    sets = {e.get("Name"): e.get("EntityType") for e in container.iter(f"{EDM}EntitySet")}
    assert sets["CustomersV3"] == "Microsoft.Dynamics.DataEntities.CustomerV3"
    assert {
        "CustomerPaymentJournalHeaders",
        "CustomerPaymentJournalLines",
        "LedgerJournalLines",
        "SalesInvoiceHeadersV2",
        "CustTransactions",
        "MainAccounts",
    } <= set(sets)
    customer = next(t for t in schema.iter(f"{EDM}EntityType") if t.get("Name") == "CustomerV3")
    keys = [k.get("Name") for k in customer.iter(f"{EDM}PropertyRef")]
    assert keys == ["dataAreaId", "CustomerAccount"]
    props = {p.get("Name"): p for p in customer.iter(f"{EDM}Property")}
    terms = {a.get("Term") for a in props["CustomerGroupId"].iter(f"{EDM}Annotation")}
    assert f"{CORE}.IsRequired" in terms
    party = {a.get("Term"): a.get("Bool") for a in props["PartyNumber"].iter(f"{EDM}Annotation")}
    assert party[f"{CORE}.AllowEdit"] == "false"
    assert props["CreditLimit"].get("Type") == "Edm.Decimal"
    assert props["CreditLimit"].get("Nullable") == "false"
    enums = {e.get("Name") for e in schema.iter(f"{EDM}EnumType")}
    assert {"NoYes", "LedgerJournalAcType", "SettlementType"} <= enums
    header = next(
        t
        for t in schema.iter(f"{EDM}EntityType")
        if t.get("Name") == "CustomerPaymentJournalHeader"
    )
    navs = {n.get("Name"): n.get("Type") for n in header.iter(f"{EDM}NavigationProperty")}
    assert navs["CustomerPaymentJournalLineHeaderEntity"] == (
        "Collection(Microsoft.Dynamics.DataEntities.CustomerPaymentJournalLine)"
    )


@pytest.mark.anyio
async def test_every_navigation_type_and_enum_reference_resolves() -> None:
    async with await authorised(make_app()) as client:
        root = ET.fromstring((await client.get("/data/$metadata")).content)  # noqa: S314
    declared = {
        f"Microsoft.Dynamics.DataEntities.{t.get('Name')}"
        for t in root.iter()
        if t.tag in {f"{EDM}EntityType", f"{EDM}EnumType"}
    }
    used = {
        p.get("Type", "").removeprefix("Collection(").removesuffix(")")
        for p in root.iter()
        if p.tag in {f"{EDM}Property", f"{EDM}NavigationProperty"}
    }
    unresolved = {u for u in used if u.startswith("Microsoft.") and u not in declared}
    assert unresolved == set()


@pytest.mark.anyio
async def test_service_document_lists_entity_sets() -> None:
    async with await authorised(make_app()) as client:
        response = await client.get("/data/")
    body = response.json()
    assert body["@odata.context"] == f"{BASE}/data/$metadata"
    names = {row["name"] for row in body["value"]}
    assert {"CustomersV3", "CustomerPaymentJournalLines"} <= names


@pytest.mark.anyio
async def test_rest_metadata_service() -> None:
    async with await authorised(make_app()) as client:
        entities = await client.get("/Metadata/DataEntities")
        public = await client.get("/Metadata/PublicEntities('CustomerPaymentJournalLine')")
        enums = await client.get("/Metadata/PublicEnumerations")
        missing = await client.get("/Metadata/PublicEntities('Nope')")
    row = next(r for r in entities.json()["value"] if r["PublicCollectionName"] == "CustomersV3")
    assert row["PublicEntityName"] == "CustomerV3"
    assert row["Name"] == "CustCustomerV3Entity"
    entity = public.json()
    assert entity["EntitySetName"] == "CustomerPaymentJournalLines"
    keys = [p["Name"] for p in entity["Properties"] if p["IsKey"]]
    assert keys == ["dataAreaId", "JournalBatchNumber", "LineNumber"]
    no_yes = next(e for e in enums.json()["value"] if e["Name"] == "NoYes")
    assert [m["Name"] for m in no_yes["Members"]] == ["No", "Yes"]
    assert missing.status_code == 404


@pytest.mark.anyio
async def test_an_extension_field_is_in_metadata_and_kept_like_any_other() -> None:
    app = make_app(extension_fields=("CustomerPaymentJournalLines.xyzRegion",
                                     "CustomersV3.xyzTier:Edm.Int32"))  # fmt: skip
    async with await authorised(app) as client:
        document = (await client.get("/data/$metadata")).content
        customers = await client.get("/data/CustomersV3?$top=1&$select=CustomerAccount,xyzTier")
    root = ET.fromstring(document)  # noqa: S314 - our own sandbox output
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    line = {
        p.get("Name"): p.get("Type")
        for p in types["CustomerPaymentJournalLine"].iter(f"{EDM}Property")
    }
    assert line["xyzRegion"] == "Edm.String"
    tier = {p.get("Name"): p.get("Type") for p in types["CustomerV3"].iter(f"{EDM}Property")}
    assert tier["xyzTier"] == "Edm.Int32"
    assert customers.status_code == 200, customers.text
    with pytest.raises(ValueError, match=r"EntitySet\.Field"):
        make_app(extension_fields=("NoSuchSet.x",))
