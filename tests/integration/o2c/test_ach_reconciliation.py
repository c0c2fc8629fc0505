"""ACH checks in the daily reconciliation, through the engine `paybridge worker` builds.

Checks are not in PayTrace's card batches: the reconciler reads the check export too
(``checks.enabled``) and matches the checks that settled on the day (sales, funded holds,
refunds) and those the bank returned on it with their D365 lines, as the pseudo-batch 0. A
check returned before it settled moved no money (its two lines must net to zero); a check's
sale and return on two days each belong to their own day's run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paybridge.clock import ManualClock, sequential_ids
from paybridge.connectors.paytrace import (
    Address,
    CheckAccount,
    CheckManageRequest,
    CheckSaleByCustomerRequest,
    CustomerCreateRequest,
)
from paybridge.o2c.settings import CheckSettings
from paybridge.reconcile import MatchClass, ReconciliationReport
from paybridge.runtime.scheduler import PeriodicJob
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.integration.reconcile.conftest import reconcile_settings
from tests.sandboxes import D365, PT, sandbox_engine, sandbox_settings

pytestmark = pytest.mark.anyio
DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 10:00 in Los Angeles
LINES = "CustomerPaymentJournalLines"


class AchDay:
    """Both sandboxes in-process, both clocks moved together, checks on."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock(START)
        self.pt_clock = SandboxClock(START)
        self.pt_app = paytrace_app(clock=self.pt_clock)
        self.d365_app = dynamics_app()
        self.pt_http = asgi_client(self.pt_app, PT)
        self.d_http = asgi_client(self.d365_app, D365)
        settings = sandbox_settings(tmp_path, checks=CheckSettings(enabled=True))
        self.engine = sandbox_engine(
            settings, clock=self.clock, pt_http=self.pt_http, d_http=self.d_http,
            d365_app=self.d365_app,
        )  # fmt: skip
        self.reconciler = self.engine.reconciler(reconcile_settings(), sequential_ids("run-"))

    async def close(self) -> None:
        await self.pt_http.aclose()
        await self.d_http.aclose()

    def advance(self, hours: float) -> None:
        self.clock.advance(hours * 3600)
        self.pt_clock.advance(hours * 3600)

    async def payer(self, profile: str, account: str) -> None:
        await self.engine.paytrace.create_customer(
            CustomerCreateRequest(
                customer_id=profile,
                check=CheckAccount(
                    account_number=SecretStr("000123456789"), routing_number="325070760"
                ),
                billing_address=Address(name="ACH Payer", street_address="1 Main St", zip="98101"),
            )
        )
        self.engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")

    async def check(self, profile: str, amount: str, *, hold: bool = False) -> int:
        request = CheckSaleByCustomerRequest(customer_id=profile, amount=Decimal(amount))
        client = self.engine.paytrace
        call = client.check_hold_by_customer if hold else client.check_sale_by_customer
        reply = await call(request)
        assert reply.check_transaction_id is not None
        return reply.check_transaction_id

    async def admin(self, event: str, check: int, **body: Any) -> None:
        reply = await self.pt_http.post(
            f"/_sandbox/checks/{event}", json={"check_transaction_id": check, **body}
        )
        assert reply.status_code == 200, reply.text

    async def post_checks(self) -> None:
        """The engine's own check poll, then the worker until the queue is empty."""
        (job,) = [j for j in self.engine.scheduler.jobs if j.name == "paytrace.poll_checks"]
        assert isinstance(job, PeriodicJob)
        await job.run()
        while await self.engine.worker.run_once():
            pass

    async def post_journals(self) -> None:
        """Post every journal holding a payment line (what the 18:00 cut-off does)."""
        rows = await self.engine.dynamics.query(LINES)
        for journal in sorted({str(r["JournalBatchNumber"]) for r in rows}):
            await self.engine.dynamics.call_service(
                "PayBridgeSandbox", "Journals", "post",
                {"dataAreaId": "usmf", "JournalBatchNumber": journal},
            )  # fmt: skip

    async def lines(self, payment_id: str) -> list[dict[str, Any]]:
        rows = await self.engine.dynamics.query(LINES)
        return [r for r in rows if r.get("PaymentId") == payment_id]


@pytest.fixture
async def ach(tmp_path: Path) -> AsyncIterator[AchDay]:
    day = AchDay(tmp_path)
    yield day
    await day.close()


def exceptions(report: ReconciliationReport) -> list[tuple[str, str, str]]:
    return [(e.match_class.name, e.transaction_id, e.reason) for e in report.exceptions]


async def test_the_days_checks_match_their_d365_lines_and_a_missing_one_is_healed(
    ach: AchDay,
) -> None:
    await ach.payer("ACH-1", "US-001")
    await ach.payer("ACH-2", "US-002")
    paid = await ach.check("ACH-1", "400.00")
    held = await ach.check("ACH-2", "125.25", hold=True)
    await ach.engine.paytrace.check_fund(CheckManageRequest(check_transaction_id=held))
    bounced = await ach.check("ACH-2", "77.00")  # returned before it ever settled
    waiting = await ach.check("ACH-1", "10.00")  # settles tomorrow
    await ach.admin("return", bounced, code="R01")
    for check in (paid, held):
        await ach.admin("settle", check)
    refunded = await ach.engine.paytrace.check_refund(
        CheckManageRequest(check_transaction_id=paid, amount=Decimal("40.00"))
    )
    assert refunded.check_transaction_id is not None
    await ach.admin("settle", refunded.check_transaction_id)
    await ach.post_checks()

    # A check's line deleted in D365 is missing; the heal re-drives it through the worker.
    (line,) = await ach.lines(f"PT-ACH{held}-capture")
    await ach.engine.dynamics.delete(
        LINES, {"dataAreaId": "usmf", "JournalBatchNumber": line["JournalBatchNumber"],
                "LineNumber": line["LineNumber"]},
    )  # fmt: skip
    missing = await ach.reconciler.run(DAY, "usmf", heal=True)
    assert ("MISSING_IN_D365", f"ACH{held}", "deleted") in exceptions(missing)
    (healed,) = missing.heals
    assert (healed.transaction_id, healed.kind, healed.enqueued) == (f"ACH{held}", "capture", True)
    while await ach.engine.worker.run_once():
        pass
    (again,) = await ach.lines(f"PT-ACH{held}-capture")
    assert Decimal(str(again["CreditAmount"])) == Decimal("125.25")
    await ach.post_journals()

    report = await ach.reconciler.run(DAY, "usmf")
    assert exceptions(report) == []
    assert report.counts[MatchClass.MATCHED] == 3  # the sale, the funded hold, the refund
    (batch,) = report.batches
    assert (batch.batch, batch.pt_count, batch.d365_count) == (0, 3, 3)
    assert batch.pt_sales.amount == Decimal("525.25") and batch.pt_refunds.amount == Decimal("40")
    assert batch.difference.amount == 0 and batch.ok
    skipped = {s.transaction_id: s.reason for s in report.skipped}
    assert skipped == {
        f"ACH{bounced}": "returned in PayTrace and reversed in D365",
        f"ACH{waiting}": "not settled yet in PayTrace",
    }


async def test_a_return_on_a_later_day_is_that_days_and_a_wrong_line_is_reported(
    ach: AchDay,
) -> None:
    await ach.payer("ACH-3", "US-003")
    check = await ach.check("ACH-3", "300.00")
    await ach.admin("settle", check)
    await ach.post_checks()
    ach.advance(24)  # the bank sends it back the next day
    await ach.admin("return", check, code="R02")
    await ach.post_checks()
    assert len(await ach.lines(f"PT-ACH{check}-return")) == 1

    # The return's line edited to a wrong amount: a mismatch on the return's day.
    (line,) = await ach.lines(f"PT-ACH{check}-return")
    key = {"dataAreaId": "usmf", "JournalBatchNumber": line["JournalBatchNumber"],
           "LineNumber": line["LineNumber"]}  # fmt: skip
    await ach.engine.dynamics.update(LINES, key, {"DebitAmount": Decimal("30.00")})
    wrong = await ach.reconciler.run(DAY + timedelta(days=1), "usmf")
    assert exceptions(wrong) == [("AMOUNT_MISMATCH", f"ACH{check}", "amount")]
    assert not wrong.batches[0].ok
    await ach.engine.dynamics.update(LINES, key, {"DebitAmount": Decimal("300.00")})
    await ach.post_journals()

    first = await ach.reconciler.run(DAY, "usmf")  # the sale's day, read after the return
    assert exceptions(first) == [] and first.counts[MatchClass.MATCHED] == 1
    assert [s.reason for s in first.skipped] == ["a fact of another day's reconciliation"]
    second = await ach.reconciler.run(DAY + timedelta(days=1), "usmf")  # the return's day
    assert exceptions(second) == [] and second.counts[MatchClass.MATCHED] == 1
    (batch,) = second.batches
    assert batch.pt_refunds.amount == Decimal("300") and batch.d365_debits.amount == Decimal("300")
