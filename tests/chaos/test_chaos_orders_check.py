"""The chaos run's order checks on hand-made PayTrace exports: a right book counts nothing, and
each way of getting an order's money wrong is counted under its own name."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.paytrace import TransactionRecord
from paybridge.harness.chaos_orders import ChaosOrders, Order
from tests.chaos.test_chaos_checks import AUTH_ONLY, PENDING, SETTLED, VOIDED, record


def auth(txn: int, order: str, n: int, amount: str, status: tuple[str, str]) -> TransactionRecord:
    return record(txn, "Authorization", amount, status, description=f"d365:usmf:{order}:auth:{n}")


def refund(txn: int, note: str, capture: int, amount: str) -> TransactionRecord:
    desc = f"d365:usmf:{note}:refund:{capture}"
    return record(txn, "Refund", amount, PENDING, description=desc)


def right_book() -> list[TransactionRecord]:
    """Order 1 invoiced 10 then 30 and credited 10; order 2 invoiced 10, the rest cancelled."""
    return [
        auth(1, "000701", 1, "10.00", SETTLED), auth(2, "000701", 2, "30.00", SETTLED),
        refund(3, "CCN-1", 2, "10.00"),
        auth(4, "000702", 1, "10.00", PENDING), auth(5, "000702", 2, "30.00", VOIDED),
    ]  # fmt: skip


def checked(records: list[TransactionRecord]) -> dict[str, int]:
    async def never() -> Any:
        raise AssertionError("the check reads nothing")

    run = ChaosOrders(
        d365=None,  # type: ignore[arg-type]
        records=never, faults=lambda on: never(), approve=never, settle=never,
        rng=random.Random(1),
    )  # fmt: skip
    run.orders = [
        Order("000701", "L1", Decimal("10.00"), cancelled=False, invoiced=Decimal("40.00"),
              credit_notes={"CCN-1": Decimal("10.00")}),
        Order("000702", "L2", Decimal("10.00"), cancelled=True, invoiced=Decimal("10.00")),
    ]  # fmt: skip
    return run.check(records).counts


def test_a_right_book_counts_nothing() -> None:
    assert sum(checked(right_book()).values()) == 0


@pytest.mark.parametrize(
    ("change", "counted"),
    [
        # the remainder authorized twice under one reference
        (lambda b: [*b, auth(9, "000701", 2, "30.00", AUTH_ONLY)],
         {"double_authorizations": 1, "open_authorizations": 1}),
        # the last capture lost: the authorization voided instead (what the chaos run found)
        (lambda b: [r if r.transaction_id != 2 else auth(2, "000701", 2, "30.00", VOIDED)
                    for r in b], {"wrong_captures": 1}),
        # the cancelled order's authorization never voided
        (lambda b: [r if r.transaction_id != 5 else auth(5, "000702", 2, "30.00", AUTH_ONLY)
                    for r in b], {"open_authorizations": 1}),
        (lambda b: [r for r in b if r.transaction_id != 3], {"refunds_lost": 1}),
        (lambda b: [*b, refund(8, "CCN-1", 2, "10.00")], {"refunds_doubled": 1}),
    ],
)  # fmt: skip
def test_each_wrong_order_book_is_counted_under_its_name(
    change: Any, counted: dict[str, int]
) -> None:
    counts = checked(change(right_book()))
    assert {k: v for k, v in counts.items() if v} == counted
