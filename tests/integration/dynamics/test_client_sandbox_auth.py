"""DynamicsClient against the D365 sandbox: MSAL and AD FS tokens, 401 replay, 403, metadata."""

from __future__ import annotations

import pytest

from paybridge.clock import sequential_ids
from paybridge.connectors.dynamics import AdfsTokenProvider, DynamicsClient, MsalTokenProvider
from paybridge.errors import ConfigError
from paybridge_sandbox.dynamics import ClientRegistration
from tests.conftest import asgi_client
from tests.integration.dynamics.test_client_sandbox_support import BASE, login_client, rig

pytestmark = pytest.mark.anyio
ADFS = "https://adfs.contoso.example"
ISSUE_SETS = {
    "CustomersV3",
    "SalesOrderHeadersV2",
    "SalesOrderLinesV3",
    "SalesInvoiceHeadersV2",
    "SalesInvoiceV2Lines",
    "CustomerPaymentJournalHeaders",
    "CustomerPaymentJournalLines",
    "PaymentJournalLineSettledInvoices",
    "LedgerJournalHeaders",
    "LedgerJournalLines",
    "CustTransactions",
    "CustomerPaymentMethods",
    "JournalNames",
    "BankAccounts",
    "MainAccounts",
    "LegalEntities",
    "Currencies",
}


async def test_msal_token_is_fetched_once_and_reused() -> None:
    async with rig() as r:
        first = await r.client.get("Currencies", {"CurrencyCode": "EUR"})
        second = await r.client.get("Currencies", {"CurrencyCode": "GBP"})
    assert first is not None and first["Name"] == "Euro"
    assert second is not None and second["Symbol"] == "£"
    assert r.tokens.fetches == 1


async def test_expired_token_is_replaced_and_the_request_replayed() -> None:
    async with rig() as r:
        await r.client.get("Currencies", {"CurrencyCode": "USD"})
        # The client's cache still thinks the token is fresh; only the server knows it expired.
        r.sandbox.clock.advance(3600)
        customer = await r.client.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-003"}
        )
    assert customer is not None and customer["OrganizationName"] == "Forest Wholesales"
    assert r.tokens.fetches == 2


async def test_adfs_token_form_post_authenticates_the_client() -> None:
    async with rig() as r, asgi_client(r.app, ADFS) as adfs_http:
        tokens = AdfsTokenProvider(
            ADFS, "sandbox-client", "sandbox-secret", BASE + "/", http=adfs_http
        )
        client = DynamicsClient(
            r.http, base_url=BASE, token_provider=tokens, id_factory=sequential_ids("adfs-")
        )
        count = await client.count("JournalNames")
        wrong = AdfsTokenProvider(ADFS, "sandbox-client", "nope", BASE, http=adfs_http)
        with pytest.raises(ConfigError) as refused:
            await wrong.token()
    assert tokens.token_url == ADFS + "/adfs/oauth2/token"
    assert count == 2  # the default company's two journal names
    assert refused.value.status == 400
    assert "invalid_client" in str(refused.value)


async def test_client_not_mapped_to_a_user_gets_403_config_error() -> None:
    stranger = ClientRegistration("stranger", "s3cret", user_id=None)
    default = ClientRegistration("sandbox-client", "sandbox-secret")
    async with rig(clients=(default, stranger)) as r:
        with login_client(r.app) as login:
            tokens = MsalTokenProvider.for_environment(
                "sandbox-tenant", "stranger", "s3cret", BASE, http_client=login
            )
            client = DynamicsClient(
                r.http, base_url=BASE, token_provider=tokens, id_factory=sequential_ids("x-")
            )
            with pytest.raises(ConfigError) as denied:
                await client.get("Currencies", {"CurrencyCode": "USD"})
    assert denied.value.status == 403
    assert "'stranger' is not registered" in str(denied.value)
    assert "ms-dyn-aid" in str(denied.value)
    assert denied.value.request_id == "x-1"


async def test_metadata_describes_sets_keys_enums_and_annotations() -> None:
    async with rig() as r:
        model = await r.client.metadata()
    assert (model.namespace, model.container) == ("Microsoft.Dynamics.DataEntities", "Resources")
    assert set(model.entity_sets) >= ISSUE_SETS
    assert model.entity_type_of("CustomersV3").keys == ("dataAreaId", "CustomerAccount")
    assert model.entity_type_of("Currencies").keys == ("CurrencyCode",)
    assert model.entity_type_of("MainAccounts").keys == ("ChartOfAccounts", "MainAccountId")
    assert model.enum_types["NoYes"].members == {"No": 0, "Yes": 1}
    customer = model.entity_type_of("CustomersV3")
    assert set(customer.required) == {"SalesCurrencyCode", "CustomerGroupId"}
    assert customer.properties["CustomerGroupId"].is_required
    assert not customer.properties["PartyNumber"].allow_edit
    lines = model.entity_type_of("CustomerPaymentJournalLines")
    assert lines.properties["AccountType"].is_enum
    assert lines.properties["AccountType"].type.endswith(".LedgerJournalAcType")
    assert lines.properties["CreditAmount"].type == "Edm.Decimal"
    assert not lines.properties["CustomerName"].allow_edit
    assert "CustTransOpen" in model.entity_type_of("CustTransactions").navigations


async def test_metadata_service_answers_with_the_clients_token() -> None:
    # The client has no /Metadata reader; its token must still open the REST metadata service.
    async with rig() as r:
        headers = {"Authorization": f"Bearer {await r.tokens.token()}"}
        entities = await r.http.get("/Metadata/DataEntities", headers=headers)
        public = await r.http.get("/Metadata/PublicEntities('CustomerV3')", headers=headers)
        enums = await r.http.get("/Metadata/PublicEnumerations", headers=headers)
        anonymous = await r.http.get("/Metadata/DataEntities")
    assert entities.status_code == 200 and "ms-dyn-aid" in entities.headers
    collections = {row["PublicCollectionName"] for row in entities.json()["value"]}
    assert collections >= ISSUE_SETS
    entity = public.json()
    assert entity["EntitySetName"] == "CustomersV3"
    keys = [p["Name"] for p in entity["Properties"] if p["IsKey"]]
    assert keys == ["dataAreaId", "CustomerAccount"]
    mandatory = {p["Name"] for p in entity["Properties"] if p["IsMandatory"]}
    assert {"SalesCurrencyCode", "CustomerGroupId"} <= mandatory
    no_yes = next(e for e in enums.json()["value"] if e["Name"] == "NoYes")
    assert [(m["Name"], m["Value"]) for m in no_yes["Members"]] == [("No", 0), ("Yes", 1)]
    assert anonymous.status_code == 401
