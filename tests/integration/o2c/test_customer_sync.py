"""Customer and payment-token sync, both directions, incremental; cards only as Protect tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from paybridge.connectors.paytrace import Address, CustomerExportRequest, CustomerUpdateRequest
from paybridge.customers.settings import CustomerSyncSettings
from paybridge.customers.sync import CardTokens, CustomerSync
from tests.integration.o2c.conftest import World, WorldFactory

pytestmark = pytest.mark.anyio
CARD = "5499740000000057"


async def synced_world(make_world: WorldFactory) -> tuple[World, CustomerSync]:
    """A world whose engine runs customer sync (``sync.enabled``), and that sync."""
    world = await make_world(
        sync=CustomerSyncSettings(
            enabled=True, discretionary_fields={"CustomerGroupId": "D365Group"}
        )
    )
    assert world.engine.sync is not None
    return world, world.engine.sync


async def tokenize(world: World, number: str) -> tuple[SecretStr, SecretStr]:
    """The browser's part of PayTrace Protect (the sandbox's stand-in for protect.min.js)."""
    reply = await world.pt_http.post(
        "/_sandbox/protect/tokenize",
        json={"credit_card": {"number": number, "expiration_month": 12, "expiration_year": 2031}},
    )
    body = reply.json()
    return SecretStr(body["hpf_token"]), SecretStr(body["enc_key"])


async def test_paytrace_profiles_flow_to_d365_incrementally(make_world: WorldFactory) -> None:
    world, sync = await synced_world(make_world)
    await world.profile("SHOP-1", "US-001", name="Contoso Retail San Diego")
    await world.profile("NEW-9", None, name="Grace Hopper")
    first = await sync.profiles_to_d365()
    assert (first.created, first.updated) == (1, 1)
    us001 = await world.engine.dynamics.get(
        "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-001"}
    )
    assert us001 is not None and us001["AddressStreet"] == "1 Main St\nSuite 5"
    assert us001["MerchantID"] == "SHOP-1" and us001["SalesMemo"].endswith("5439")
    assert world.engine.store.xref.get("paytrace_customer", "NEW-9") == "usmf/NEW-9"

    again = await sync.profiles_to_d365()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    await world.engine.paytrace.update_customer(
        CustomerUpdateRequest(
            customer_id="SHOP-1",
            billing_address=Address(name="Contoso Retail San Diego", street_address="9 Pier Rd",
                                    city="San Diego", state="CA", zip="92101", country="US"),
        )
    )  # fmt: skip
    third = await sync.profiles_to_d365()
    assert (third.updated, third.unchanged) == (1, 1)
    us001 = await world.engine.dynamics.get(
        "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-001"}
    )
    assert us001 is not None and us001["AddressStreet"] == "9 Pier Rd"
    # What PayBridge wrote to D365 is not sent back to PayTrace as a D365 change.
    back = await sync.customers_to_paytrace()
    assert back.updated == 0


async def test_d365_changes_flow_to_linked_profiles_with_custom_fields(
    make_world: WorldFactory,
) -> None:
    world, sync = await synced_world(make_world)
    await world.profile("SHOP-2", "US-002")
    first = await sync.customers_to_paytrace()
    assert first.updated == 1 and first.waiting >= 9  # the rest have no PayTrace profile yet
    await world.engine.dynamics.update(
        "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-002"},
        {"AddressStreet": "2 Grand Avenue\nFloor 3", "PrimaryContactEmail": "ap@contoso.example"},
    )  # fmt: skip
    second = await sync.customers_to_paytrace()
    assert second.updated == 1
    (profile,) = await world.engine.paytrace.export_customers(
        CustomerExportRequest(customer_id="SHOP-2")
    )
    assert profile.billing_address is not None
    assert profile.billing_address.street_address == "2 Grand Avenue"
    assert profile.billing_address.street_address2 == "Floor 3"
    assert profile.billing_address.name == "Contoso Retail Los Angeles"
    assert profile.email == "ap@contoso.example"
    assert profile.discretionary_data == {"D365Group": "10"}
    assert (await sync.customers_to_paytrace()).updated == 0


async def test_a_card_is_attached_and_replaced_through_protect_tokens_only(
    make_world: WorldFactory, tmp_path: Path
) -> None:
    world, sync = await synced_world(make_world)
    tokens = CardTokens(sync, world.engine.store.intents)
    assert len(await tokens.client_key()) > 20
    hpf, key = await tokenize(world, CARD)
    first = await tokens.attach_card("usmf", "US-007", hpf, key)
    assert first.created and first.profile_id == "US-007" and first.masked_card.endswith("0057")
    (profile,) = await world.engine.paytrace.export_customers(
        CustomerExportRequest(customer_id="US-007")
    )
    assert profile.billing_address is not None
    assert profile.billing_address.name == "Desert Wholesales"
    hpf2, key2 = await tokenize(world, "4012000098765439")
    second = await tokens.attach_card("usmf", "US-007", hpf2, key2)
    assert not second.created and second.masked_card.endswith("5439")
    row = await world.engine.dynamics.get(
        "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-007"}
    )
    assert row is not None
    assert (
        row["MerchantID"] == "US-007" and row["SalesMemo"] == f"PayTrace card {second.masked_card}"
    )
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("pb*.db*"))
    assert CARD.encode() not in stored and b"4012000098765439" not in stored
    assert hpf.get_secret_value().encode() not in stored
