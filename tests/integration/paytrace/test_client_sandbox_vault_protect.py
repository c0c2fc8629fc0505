"""Customer vault and PayTrace Protect through PayTraceClient against the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from paybridge.connectors.paytrace import (
    Address,
    CaptureRequest,
    CheckAccount,
    CreditCard,
    CustomerCreateRequest,
    CustomerExportRequest,
    CustomerRecord,
    CustomerSaleRequest,
    CustomerUpdateRequest,
    KeyedSaleRequest,
    ProtectCustomerRequest,
    ProtectCustomerSaleRequest,
    ProtectSaleRequest,
)
from paybridge.errors import ConfigError, DataError, DeclinedError
from tests.integration.paytrace.test_client_sandbox_cards import (
    ADDRESS,
    MASTERCARD,
    VISA,
    Rig,
    open_rig,
    record_of,
)

pytestmark = pytest.mark.anyio
ACCOUNT = CheckAccount(account_number="123456", routing_number="325070760")


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with open_rig() as opened:
        yield opened


async def protect_tokens(rig: Rig, card: CreditCard, csc: str | None = None) -> dict[str, str]:
    """What PayTrace's hosted fields hand the browser; the sandbox's stand-in for protect.js."""
    body: dict[str, object] = {"credit_card": card.model_dump(mode="json")}
    if csc is not None:
        body["csc"] = csc
    reply = await rig.http.post("/_sandbox/protect/tokenize", json=body)
    assert reply.status_code == 200
    pair: dict[str, str] = reply.json()
    assert set(pair) == {"hpf_token", "enc_key"}
    return pair


async def only_customer(rig: Rig, customer_id: str, include_bin: bool = False) -> CustomerRecord:
    found = await rig.client.export_customers(
        CustomerExportRequest(customer_id=customer_id, include_bin=include_bin or None)
    )
    assert [c.customer_id for c in found] == [customer_id]
    return found[0]


async def test_customer_create_export_update_delete(rig: Rig) -> None:
    created = await rig.client.create_customer(
        CustomerCreateRequest(
            customer_id="C1",
            credit_card=VISA,
            billing_address=ADDRESS,
            email="nat@example.com",
            phone="555-0100",
            discretionary_data={"Tier": "gold"},
        )
    )
    assert (created.response_code, created.masked_card_number) == (160, "xxxxxxxxxxxx5439")
    assert created.status_message == (
        "The customer profile for C1/Nathan Williams was successfully created."
    )
    record = await only_customer(rig, "C1")
    assert record.credit_card is not None
    # The vault export's mask is not public (spec §13.4): the sandbox answers like customer/create.
    assert (record.credit_card.masked_number, record.credit_card.expiration_month) == (
        "xxxxxxxxxxxx5439",
        12,
    )
    assert (record.email, record.phone, record.discretionary_data) == (
        "nat@example.com",
        "555-0100",
        {"Tier": "gold"},
    )
    with_bin = await only_customer(rig, "C1", include_bin=True)
    assert with_bin.credit_card is not None
    assert with_bin.credit_card.masked_number == "401200******5439"
    updated = await rig.client.update_customer(
        CustomerUpdateRequest(
            customer_id="C1", credit_card=MASTERCARD, shipping_address=Address(city="Reno")
        )
    )
    assert (updated.response_code, updated.masked_card_number) == (161, "xxxxxxxxxxxx0057")
    after = await only_customer(rig, "C1")
    assert after.credit_card is not None and after.credit_card.masked_number.endswith("0057")
    assert after.shipping_address is not None and after.shipping_address.city == "Reno"
    assert after.email == "nat@example.com"  # omitted fields stay as they were
    deleted = await rig.client.delete_customer("C1")
    assert deleted.response_code == 162
    assert await rig.client.export_customers(CustomerExportRequest(customer_id="C1")) == []


async def test_export_lists_every_profile_without_a_filter(rig: Rig) -> None:
    for customer_id in ("A", "B"):
        await rig.client.create_customer(
            CustomerCreateRequest(customer_id=customer_id, credit_card=VISA)
        )
    await rig.client.create_customer(CustomerCreateRequest(customer_id="ACH", check=ACCOUNT))
    listed = await rig.client.export_customers()
    assert sorted(c.customer_id for c in listed) == ["A", "ACH", "B"]
    ach = next(c for c in listed if c.customer_id == "ACH")
    assert ach.model_extra is not None
    assert ach.model_extra["check"] == {
        "masked_account_number": "xxxx3456",
        "routing_number": "325070760",
    }


async def test_vault_refusals(rig: Rig) -> None:
    await rig.client.create_customer(CustomerCreateRequest(customer_id="C1", credit_card=VISA))
    with pytest.raises(DataError) as duplicate:
        await rig.client.create_customer(
            CustomerCreateRequest(customer_id="C1", credit_card=MASTERCARD)
        )
    assert duplicate.value.fields == {"171": "Please provide a unique customer ID."}
    bad = CreditCard(number="4012000098765430", expiration_month=0, expiration_year=30)
    with pytest.raises(DataError) as invalid:
        await rig.client.create_customer(CustomerCreateRequest(customer_id="C2", credit_card=bad))
    assert set(invalid.value.fields) == {"35", "43"}
    for call in (
        rig.client.update_customer(CustomerUpdateRequest(customer_id="ghost", email="a@b.c")),
        rig.client.delete_customer("ghost"),
    ):
        with pytest.raises(DataError) as unknown:
            await call
        assert set(unknown.value.fields) == {"30"}
    assert [c.customer_id for c in await rig.client.export_customers()] == ["C1"]


async def test_deleted_customer_cannot_be_charged(rig: Rig) -> None:
    await rig.client.create_customer(CustomerCreateRequest(customer_id="C1", credit_card=VISA))
    sale = await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="C1", amount="4"))
    await rig.client.delete_customer("C1")
    with pytest.raises(DataError) as gone:
        await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="C1", amount="4"))
    assert set(gone.value.fields) == {"30"}
    assert (await record_of(rig, sale.transaction_id)).customer_id == "C1"  # history stays


async def test_client_key_for_hosted_fields(rig: Rig) -> None:
    first = await rig.client.create_client_key()
    second = await rig.client.create_client_key()
    assert len(first) > 40 and first != second


async def test_protect_sale_and_authorization(rig: Rig) -> None:
    pair = await protect_tokens(rig, VISA, csc="999")
    sale = await rig.client.sale_pt_protect(
        ProtectSaleRequest(amount=Decimal("15.50"), invoice_id="PT-1", **pair)
    )
    assert (sale.response_code, sale.csc_response) == (101, "Match")
    assert sale.masked_card_number == "xxxxxxxxxxxx5439"
    record = await record_of(rig, sale.transaction_id)
    assert (record.amount, record.invoice_id) == (Decimal("15.50"), "PT-1")
    auth = await rig.client.authorize_pt_protect(
        ProtectSaleRequest(amount=Decimal("8"), **await protect_tokens(rig, MASTERCARD))
    )
    await rig.client.capture(CaptureRequest(transaction_id=auth.transaction_id))
    captured = await record_of(rig, auth.transaction_id)
    assert (captured.transaction_type, captured.status_code) == ("AUTHORIZATION", "Y")
    assert captured.credit_card is not None
    assert captured.credit_card.masked_number == "************0057"


async def test_protect_token_is_single_use_and_needs_its_key(rig: Rig) -> None:
    pair = await protect_tokens(rig, VISA)
    await rig.client.sale_pt_protect(ProtectSaleRequest(amount="1", **pair))
    with pytest.raises(DataError) as reused:
        await rig.client.sale_pt_protect(ProtectSaleRequest(amount="1", **pair))
    assert set(reused.value.fields) == {"54"}
    fresh = await protect_tokens(rig, VISA)
    with pytest.raises(DataError) as wrong_key:
        await rig.client.authorize_pt_protect(
            ProtectSaleRequest(amount="1", hpf_token=fresh["hpf_token"], enc_key="AAAA")
        )
    assert set(wrong_key.value.fields) == {"54"}
    assert rig.transaction_count() == 1


async def test_protect_sale_declines(rig: Rig) -> None:
    with pytest.raises(DeclinedError) as declined:
        await rig.client.sale_pt_protect(
            ProtectSaleRequest(amount="1.12", **await protect_tokens(rig, VISA))
        )
    assert declined.value.response_code == 102
    assert declined.value.transaction_id is not None


async def test_protect_sale_that_creates_the_customer(rig: Rig) -> None:
    sale = await rig.client.sale_pt_protect_customer(
        ProtectCustomerSaleRequest(
            customer_id="P2",
            amount=Decimal("3"),
            invoice_id="PTC-1",
            **await protect_tokens(rig, VISA),
        )
    )
    assert sale.response_code == 101
    assert sale.model_extra is not None and sale.model_extra["customer_id"] == "P2"
    record = await record_of(rig, sale.transaction_id)
    assert (record.customer_id, record.amount, record.invoice_id) == (
        "P2",
        Decimal("3.00"),
        "PTC-1",
    )
    again = await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="P2", amount="1"))
    assert again.response_code == 101
    with pytest.raises(DataError) as duplicate:
        await rig.client.sale_pt_protect_customer(
            ProtectCustomerSaleRequest(
                customer_id="P2", amount="3", **await protect_tokens(rig, VISA)
            )
        )
    assert set(duplicate.value.fields) == {"171"}
    with pytest.raises(DeclinedError):
        await rig.client.sale_pt_protect_customer(
            ProtectCustomerSaleRequest(
                customer_id="P3", amount="1.12", **await protect_tokens(rig, VISA)
            )
        )
    assert [c.customer_id for c in await rig.client.export_customers()] == ["P2"]


async def test_protect_customer_create_and_update(rig: Rig) -> None:
    created = await rig.client.create_customer_pt_protect(
        ProtectCustomerRequest(
            customer_id="P1",
            billing_address=ADDRESS,
            email="p1@example.com",
            **await protect_tokens(rig, VISA),
        )
    )
    assert (created.response_code, created.customer_id) == (160, "P1")
    assert created.masked_card_number is None  # the captured Protect answer has none
    sale = await rig.client.sale_by_customer(CustomerSaleRequest(customer_id="P1", amount="7"))
    assert (await record_of(rig, sale.transaction_id)).customer_id == "P1"
    updated = await rig.client.update_customer_pt_protect(
        ProtectCustomerRequest(customer_id="P1", **await protect_tokens(rig, MASTERCARD))
    )
    assert updated.response_code == 161
    record = await only_customer(rig, "P1")
    assert record.credit_card is not None
    assert record.credit_card.masked_number == "xxxxxxxxxxxx0057"
    assert record.email == "p1@example.com"
    with pytest.raises(DataError) as duplicate:
        await rig.client.create_customer_pt_protect(
            ProtectCustomerRequest(customer_id="P1", **await protect_tokens(rig, VISA))
        )
    assert set(duplicate.value.fields) == {"171"}
    with pytest.raises(DataError) as unknown:
        await rig.client.update_customer_pt_protect(
            ProtectCustomerRequest(customer_id="ghost", **await protect_tokens(rig, VISA))
        )
    assert set(unknown.value.fields) == {"30"}


async def test_wrong_integrator_id_is_981_and_changes_nothing(rig: Rig) -> None:
    stranger = rig.client_with(integrator_id="NOT-OURS")
    with pytest.raises(ConfigError) as refused:
        await stranger.sale_keyed(KeyedSaleRequest(amount="5", credit_card=VISA))
    assert "981" in refused.value.message
    assert "insufficient permissions" in refused.value.message
    with pytest.raises(ConfigError):
        await stranger.create_customer(CustomerCreateRequest(customer_id="X", credit_card=VISA))
    assert rig.transaction_count() == 0
    assert await rig.client.export_customers() == []
    # Integrations send the client-key call with an empty body (spec §5.15): no id is checked.
    assert await stranger.create_client_key()


async def test_wrong_password_is_a_config_error(rig: Rig) -> None:
    with pytest.raises(ConfigError) as refused:
        await rig.client_with(password="wrong").export_customers()
    assert "invalid_grant" in refused.value.message
