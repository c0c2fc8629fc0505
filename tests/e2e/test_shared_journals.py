"""Issue 20, item 5, from outside: a line a person adds to PayBridge's journal between two
postings (over D365's OData, numbered by D365) leaves every payment in D365 exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.product import World, open_world, stays
from tests.e2e.test_product_capabilities import dead_letters, money, one_line

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def test_a_line_added_by_hand_between_two_postings(world: World) -> None:
    world.paytrace.create_customer("SHOP-E2E-SHARED")
    world.write_settings()
    world.cli("xref", "link", "SHOP-E2E-SHARED", "usmf/US-001")
    engine = world.start_engine("worker")

    first = world.paytrace.sale_by_customer("SHOP-E2E-SHARED", "61.00", "WEB-SHARED-1")
    line1 = one_line(world, first, timeout=30)
    journal = line1["JournalBatchNumber"]
    person = world.dynamics.create(
        "CustomerPaymentJournalLines",
        {
            "dataAreaId": "usmf", "JournalBatchNumber": journal, "AccountType": "Cust",
            "AccountDisplayValue": "US\\-002", "CreditAmount": 9.5,
            "PaymentReference": "CHECK-E2E-77", "TransactionText": "Check keyed by hand",
        },
    )  # fmt: skip
    assert money(person["LineNumber"]) == money(line1["LineNumber"]) + 1

    second = world.paytrace.sale_by_customer("SHOP-E2E-SHARED", "62.00", "WEB-SHARED-2")
    line2 = one_line(world, second, timeout=30)
    assert line2["JournalBatchNumber"] == journal
    assert money(line2["LineNumber"]) > money(person["LineNumber"])
    assert money(line2["CreditAmount"]) == Decimal("62.00")
    stays(
        f"exactly one D365 line for PayTrace sale {second}",
        lambda: world.dynamics.payment_lines(second),
        lambda rows: len(rows) == 1,
        seconds=1.0,
        watch=[engine],
    )
    assert len(world.dynamics.payment_lines(first)) == 1
    (hand,) = world.dynamics.payment_lines("CHECK-E2E-77")
    assert money(hand["CreditAmount"]) == Decimal("9.5")
    assert dead_letters(world, second) is None and dead_letters(world, first) is None
