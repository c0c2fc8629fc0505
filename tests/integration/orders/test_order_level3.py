"""Level 2/3 on an order's captures, as the engine builds it with ``level3.enabled``: the invoice
D365 posted is checked before its capture is planned (findings on the capture's lineage), a
blocking finding under ``on_failure: block`` refuses the capture (the authorization untouched, a
dead letter naming the pre-flight), and after the capture Level 3 goes to PayTrace once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.charging.settings import Level3Settings
from tests.integration.orders.world import open_world

pytestmark = pytest.mark.anyio


def level3_rows(world: object, order: str) -> list[tuple[str, str]]:
    entries = world.engine.store.ledger.entries(f"d365:usmf:{order}:capture")  # type: ignore[attr-defined]
    return [(e.step, e.status) for e in entries if e.step in ("level3", "paytrace.level3")]


async def test_a_capture_sends_level_3_once_after_the_invoice_checked(tmp_path: Path) -> None:
    async with open_world(tmp_path, level3=Level3Settings(enabled=True)) as world:
        order, _ = await world.order("US-001", (4, "10"), po="PO-4471")
        await world.step()
        await world.invoice(order)
        await world.step()
        await world.step()  # again: nothing more is sent
        txns = [t for t in world.paytrace().transactions.values()
                if t.transaction_type == "AUTHORIZATION"]  # fmt: skip
        assert [(t.status, t.amount) for t in txns] == [("pending", Decimal("40.00"))]
        assert txns[0].level3_line_items == 1  # the invoice's one line, sent once
        # The order's line has no description (ProductName): an error, captured all the same
        # under the default ``warn``, and the finding kept on the capture's lineage.
        rows = level3_rows(world, order)
        assert rows == [("level3", "errors"), ("paytrace.level3", "sent")], rows


async def test_a_blocking_finding_refuses_the_capture_and_keeps_the_authorization(
    tmp_path: Path,
) -> None:
    settings = Level3Settings(enabled=True, on_failure="block")  # a missing PO is an error
    async with open_world(tmp_path, level3=settings) as world:
        order, _ = await world.order("US-001", (4, "10"))
        await world.step()
        await world.invoice(order)
        await world.step()
        txns = [t for t in world.paytrace().transactions.values()
                if t.transaction_type == "AUTHORIZATION"]  # fmt: skip
        assert [(t.status, t.level3_line_items) for t in txns] == [("auth_only", 0)]
        dead = world.engine.store.queue.dead_letter_summaries(None, 10)
        capture = [d for d in dead if ":capture:" in d["key"]]
        assert len(capture) == 1 and "Level 2/3 pre-flight blocks" in capture[0]["dead_reason"]
        assert "CustomersOrderReference" in capture[0]["dead_reason"]
        assert level3_rows(world, order) == [("level3", "blocked")]
