"""Issue 17 item 6: a PayTrace merchant account per D365 legal entity. Each account is polled
with its own cursor; its payments reach its own company only; two accounts that hand out the
same transaction ids lose or merge nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.connectors.dynamics import unescape_display_value
from paybridge.keys import CUSTOMER_XREF, POLLER_CURSOR
from tests.integration.multico.world import open_profile, open_two_accounts, sell

pytestmark = pytest.mark.anyio


async def test_overlapping_ids_of_two_accounts_post_once_each_in_their_own_company(
    tmp_path: Path,
) -> None:
    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SHOP-1")
        await open_profile(world.retail, "SHOP-1")  # the same profile id in the other merchant
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-1", "usmf/US-001")
        engine.store.xref.link(CUSTOMER_XREF, "retail/SHOP-1", "usrt/USRT-001")
        main_ids = [await sell(world.main, "SHOP-1", a) for a in ("10.00", "20.00")]
        retail_ids = [await sell(world.retail, "SHOP-1", a) for a in ("7.00", "9.00", "11.00")]
        assert main_ids == retail_ids[:2]  # PayTrace ids overlap across the two accounts

        await world.drain()
        await world.drain()  # a second poll and pass changes nothing

        usmf, usrt = await world.lines("usmf"), await world.lines("usrt")
        assert {
            k: (unescape_display_value(v["AccountDisplayValue"]), v["CreditAmount"])
            for k, v in usmf.items()
        } == {
            f"PT-{main_ids[0]}-sale": ("US-001", Decimal("10.00")),
            f"PT-{main_ids[1]}-sale": ("US-001", Decimal("20.00")),
        }
        amounts = dict(zip(retail_ids, ("7.00", "9.00", "11.00"), strict=True))
        assert {
            k: (unescape_display_value(v["AccountDisplayValue"]), v["CreditAmount"])
            for k, v in usrt.items()
        } == {f"PT-{i}-sale": ("USRT-001", Decimal(a)) for i, a in amounts.items()}
        assert {unescape_display_value(v["OffsetAccountDisplayValue"]) for v in usrt.values()} == {
            "USRT OPER"
        }
        # Each account has its own cursor; the main one's keeps its name.
        cursors = engine.store.cursors
        assert cursors.get(POLLER_CURSOR) and cursors.get(f"{POLLER_CURSOR}.retail")
        # Keys are qualified for the other account, so both facts of one id are in the ledger.
        keys = {e.event_key for e in engine.store.ledger.entries(f"paytrace:{main_ids[0]}:sale")}
        keys |= {e.event_key for e in engine.store.ledger.entries(
            f"paytrace:retail/{main_ids[0]}:sale")}  # fmt: skip
        assert keys == {f"paytrace:{main_ids[0]}:sale", f"paytrace:retail/{main_ids[0]}:sale"}


async def test_a_payment_is_credited_only_in_its_accounts_company(tmp_path: Path) -> None:
    """A customer linked to another company, or unlinked, is looked for (same id) in the
    account's company only; not found there, the payment waits in the dead letters and no
    other company is ever credited."""
    async with open_two_accounts(tmp_path, {"customer_match": "xref_or_same_id"}) as world:
        engine = world.engine
        for profile in ("SHOP-9", "USRT-002", "US-003"):
            await open_profile(world.retail, profile)
        await open_profile(world.main, "USRT-003")
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-9", "usmf/US-002")  # another company's
        linked_elsewhere = await sell(world.retail, "SHOP-9", "5.00")
        same_id_here = await sell(world.retail, "USRT-002", "6.00")
        other_company_id = await sell(world.retail, "US-003", "7.00")
        main_unknown = await sell(world.main, "USRT-003", "8.00")
        await world.drain()

        usmf, usrt = await world.lines("usmf"), await world.lines("usrt")
        assert usmf == {}  # nothing of retail's, and the main account's unknown customer waits
        assert set(usrt) == {f"PT-{same_id_here}-sale"}
        assert unescape_display_value(usrt[f"PT-{same_id_here}-sale"]["AccountDisplayValue"]) == (
            "USRT-002"
        )
        dead = {row["key"]: row["dead_reason"] for row in engine.store.queue.dead_letters()}
        assert set(dead) == {
            f"paytrace:retail/{linked_elsewhere}:sale",
            f"paytrace:retail/{other_company_id}:sale",
            f"paytrace:{main_unknown}:sale",
        }
        assert "in usrt" in dead[f"paytrace:retail/{linked_elsewhere}:sale"]
        assert "in usmf" in dead[f"paytrace:{main_unknown}:sale"]
        # The same-id match is remembered under the account's own profile name.
        assert engine.store.xref.get(CUSTOMER_XREF, "retail/USRT-002") == "usrt/USRT-002"


async def test_a_signed_event_is_checked_in_the_merchant_account_it_names(
    tmp_path: Path,
) -> None:
    from paybridge.errors import DataError
    from paybridge.o2c.events import InboundEvent

    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SHOP-1")
        await open_profile(world.retail, "SHOP-1")
        main = await sell(world.main, "SHOP-1", "10.00")
        retail = await sell(world.retail, "SHOP-1", "7.00")
        assert main == retail
        said = await engine.events.accept(
            InboundEvent(type="payment.processed", transaction_id=int(retail), account="retail")
        )
        assert [f.key for f in said.facts] == [f"paytrace:retail/{retail}:sale"]
        payload = engine.store.queue.payload(f"paytrace:retail/{retail}:sale")
        assert payload is not None and Decimal(payload["amount"]["amount"]) == Decimal("7.00")
        assert payload["account"] == "retail"
        with pytest.raises(DataError):
            await engine.events.accept(
                InboundEvent(type="payment.processed", transaction_id=int(main), account="nope")
            )
