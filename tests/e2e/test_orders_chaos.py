"""Orders under faults, as a product: two `paybridge worker` processes on one store while both
sandboxes (processes) inject the `chaos` profile (5xx before and after the commit, 429, resets,
dropped answers), windows of faults while PayBridge works. Then, from what PayTrace and D365
show: every invoice captured exactly once, captures adding up to what was invoiced, every
authorization of a cancelled remainder voided, every credit note refunded exactly once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.product import BIN, World, open_world, process_env, start_process, wait_for

pytestmark = pytest.mark.slow
ORDERS = "PayBridgeSandbox/SalesOrders"
N = 6
FAULT_WINDOW = 6.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def faults(world: World, profile: str) -> None:
    for sandbox in (world.paytrace, world.dynamics):
        reply = sandbox.http.post("/_sandbox/faults", json={"profile": profile, "seed": 7})
        reply.raise_for_status()


def window(world: World) -> None:
    """Faults on both sides while the workers go on, then off (the test's own calls need none)."""
    faults(world, "chaos")
    time.sleep(FAULT_WINDOW)
    faults(world, "none")


def money(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


def by_order(world: World, kind: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for t in world.paytrace.transactions():
        if kind in str(t.get("transaction_type", "")).upper():
            found.setdefault(str(t.get("invoice_id") or t.get("description")), []).append(t)
    return found


def captured(t: dict[str, Any]) -> bool:
    status = str(t.get("status_code", "")).upper()
    return status == "Y" or status.startswith("GB") or bool(str(t.get("settled", "")).strip())


def test_orders_through_faults_on_both_sides_with_two_workers(world: World) -> None:
    world.paytrace.create_customer("ORD-CHAOS-1")
    world.write_settings({
        "orders": {"enabled": True, "interval_seconds": 0.5, "refund_approval_above": "1000",
                   "unsettled_retry_seconds": 1},
        "charging": {"in_doubt_grace_seconds": 3},
        "worker": {"retry": {"order.payment": {"base_seconds": 0.2, "cap_seconds": 2,
                                               "max_attempts": 40},
                             "payment": {"base_seconds": 0.2, "cap_seconds": 2,
                                         "max_attempts": 40}}},
    })  # fmt: skip
    world.cli("xref", "link", "ORD-CHAOS-1", "usmf/US-005")
    assert world.config is not None
    workers = [
        start_process(
            f"worker {n}",
            [str(BIN / "paybridge"), "worker", "--config", str(world.config)],
            world.tmp / f"worker{n}.log",
            process_env(),
        )
        for n in (1, 2)
    ]
    world.processes += workers
    d365 = world.dynamics
    orders: list[tuple[str, str]] = []
    for _ in range(N):
        number = str(d365.create("SalesOrderHeadersV2", {
            "dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-005",
            "CustomerPaymentMethodName": "CREDITCARD"})["SalesOrderNumber"])  # fmt: skip
        line = d365.create("SalesOrderLinesV3", {"dataAreaId": "usmf", "SalesOrderNumber": number,
                                                 "ItemNumber": "D0001", "OrderedSalesQuantity": 4,
                                                 "SalesPrice": 12.5})  # fmt: skip
        orders.append((number, str(line["InventoryLotId"])))
    numbers = {o for o, _ in orders}
    window(world)
    wait_for("every order authorized", lambda: by_order(world, "AUTH"),
             lambda found: numbers <= set(found), timeout=60, watch=workers)  # fmt: skip
    for order, lot in orders:  # first invoice: one unit of four
        d365.service(f"{ORDERS}/invoice", {"dataAreaId": "usmf", "SalesOrderNumber": order,
                                          "Lines": [{"InventoryLotId": lot, "Quantity": 1}]})  # fmt: skip
    window(world)
    wait_for("every first invoice captured and the remainder authorized",
             lambda: by_order(world, "AUTH"),
             lambda found: all(len(found.get(o, [])) >= 2 for o in numbers), timeout=60,
             watch=workers)  # fmt: skip
    for n, (order, _) in enumerate(orders):  # half invoiced in full, half cancelled
        op = "invoice" if n % 2 == 0 else "cancel"
        d365.service(f"{ORDERS}/{op}", {"dataAreaId": "usmf", "SalesOrderNumber": order})
    window(world)

    def settled_state() -> dict[str, list[dict[str, Any]]]:
        return by_order(world, "AUTH")

    def done(found: dict[str, list[dict[str, Any]]]) -> bool:
        for n, (order, _) in enumerate(orders):
            auths = found.get(order, [])
            caps = [t for t in auths if captured(t)]
            voided = [t for t in auths if "VOID" in str(t.get("status_message", "")).upper()]
            if n % 2 == 0 and sum(money(t["amount"]) for t in caps) != Decimal("50.00"):
                return False
            if n % 2 == 1 and not voided:
                return False
        return True

    found = wait_for("captures and voids settle", settled_state, done, timeout=90, watch=workers)
    world.paytrace.call("/v1/transactions/settle", {})
    for order, lot in orders[::2]:  # a credit note of one unit on every fully invoiced order
        d365.service(f"{ORDERS}/creditNote", {"dataAreaId": "usmf", "SalesOrderNumber": order,
                                             "Lines": [{"InventoryLotId": lot, "Quantity": 1}]})  # fmt: skip
    window(world)
    refunds = wait_for(
        "every credit note refunded",
        lambda: [t for t in world.paytrace.transactions()
                 if "REFUND" in str(t.get("transaction_type", "")).upper()],
        lambda rows: len(rows) >= len(orders[::2]), timeout=90, watch=workers,
    )  # fmt: skip
    time.sleep(3)  # the workers go round again: nothing more may appear
    refunds = [t for t in world.paytrace.transactions()
               if "REFUND" in str(t.get("transaction_type", "")).upper()]  # fmt: skip
    found = by_order(world, "AUTH")
    captures = Counter()
    for n, (order, _) in enumerate(orders):
        caps = [t for t in found[order] if captured(t)]
        captures[order] = len(caps)
        expected = Decimal("50.00") if n % 2 == 0 else Decimal("12.50")
        assert sum(money(t["amount"]) for t in caps) == expected, (order, found[order])
    assert captures == Counter({o: (2 if n % 2 == 0 else 1) for n, (o, _) in enumerate(orders)})
    assert sorted(money(t["amount"]) for t in refunds) == [Decimal("12.50")] * len(orders[::2])
    # Each capture reaches D365 through the poller and the queue: wait for all of them (a loaded
    # machine takes longer than the refunds), then nothing may be there twice.
    expected_captures = sum(captures.values())
    lines = wait_for(
        f"{expected_captures} capture lines in D365",
        lambda: d365.query("CustomerPaymentJournalLines"),
        lambda rows: len({str(r["PaymentId"]) for r in rows
                          if str(r["PaymentId"]).endswith("-capture")}) >= expected_captures,
        timeout=120, watch=workers,
    )  # fmt: skip
    time.sleep(2)  # a second writer would show now
    lines = d365.query("CustomerPaymentJournalLines")
    capture_lines = Counter(str(line["PaymentId"]) for line in lines
                            if str(line["PaymentId"]).endswith("-capture"))  # fmt: skip
    assert sum(capture_lines.values()) == expected_captures, capture_lines
    assert capture_lines and max(capture_lines.values()) == 1
    marked = Counter(str(line["MarkedInvoice"]) for line in lines
                     if str(line["PaymentId"]).endswith("-capture"))  # fmt: skip
    assert max(marked.values()) == 1  # no invoice paid twice
    injected = [
        dict(s.http.get("/_sandbox/faults").json()) for s in (world.paytrace, world.dynamics)
    ]
    assert all(report["total"] > 0 for report in injected), injected  # the faults did happen
