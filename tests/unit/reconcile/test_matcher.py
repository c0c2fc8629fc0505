"""The pure matcher: one class per settled transaction, orphan lines judged, batch totals to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.reconcile.batches import ReportedBatch
from paybridge.reconcile.columns import (
    Codes,
    D365Columns,
    LedgerColumns,
    PayTraceColumns,
)
from paybridge.reconcile.matcher import (
    Expectations,
    Finding,
    MatchClass,
    MatchResult,
    match,
)

D = Decimal


class Day:
    """A tiny day built by hand: PayTrace rows, D365 lines, ledger and expectations."""

    def __init__(self) -> None:
        self.codes = Codes()
        self.pt = PayTraceColumns(self.codes)
        self.d365 = D365Columns(self.codes)
        self.ledger = LedgerColumns(self.codes)
        self.posted: set[str] = {"J-POSTED"}

    def sale(
        self,
        tx: int,
        amount: str,
        *,
        kind: str = "sale",
        batch: int = 1,
        customer: str = "C1",
        invoice: str = "",
        currency: str = "USD",
    ) -> None:
        self.pt.add(tx, kind, D(amount), currency, customer, invoice, batch)

    def line(
        self,
        tx: int,
        amount: str,
        *,
        kind: str = "sale",
        side: str = "credit",
        account: str = "US-001",
        invoice: str = "",
        journal: str = "J-POSTED",
        currency: str = "USD",
        payment_id: str | None = None,
        reference: str | None = None,
        number: int = 1,
    ) -> int:
        credit, debit = (D(amount), D(0)) if side == "credit" else (D(0), D(amount))
        return self.d365.add(
            payment_id if payment_id is not None else f"PT-{tx}-{kind}",
            reference if reference is not None else str(tx),
            credit,
            debit,
            currency,
            account,
            invoice,
            journal,
            number,
        )

    def run(
        self,
        *,
        statuses: dict[int, str] | None = None,
        reported: dict[int, ReportedBatch] | None = None,
        require_posted: bool = True,
    ) -> tuple[list[MatchClass], list[Finding], MatchResult]:
        self.d365.mark_posted(self.posted)
        accounts = {self.codes.code("C1"): self.codes.code("US\\-001")}  # as D365 shows it
        expect = Expectations(
            accounts=accounts,
            statuses=statuses or {},
            reported=reported or {},
            require_posted=require_posted,
        )
        result = match(self.pt, self.d365, self.ledger, expect)
        return [MatchClass(c) for c in result.classes], result.findings, result


def test_a_clean_day_is_all_matched() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.sale(2, "5.25", kind="refund")
    day.sale(3, "7.00", kind="capture")
    day.line(1, "10.00")
    day.line(2, "5.25", kind="refund", side="debit")
    day.line(3, "7.00", kind="capture")
    classes, findings, result = day.run()
    assert classes == [MatchClass.MATCHED] * 3
    assert findings == []
    assert result.all_matched


@pytest.mark.parametrize(
    ("tamper", "expected", "reason"),
    [
        ({"amount": "10.01"}, MatchClass.AMOUNT_MISMATCH, "amount"),
        ({"currency": "EUR"}, MatchClass.AMOUNT_MISMATCH, "currency"),
        ({"side": "debit"}, MatchClass.AMOUNT_MISMATCH, "sign"),
        ({"account": "US-002"}, MatchClass.WRONG_PARTY, "customer"),
        ({"invoice": "CIV-9"}, MatchClass.WRONG_PARTY, "invoice"),
        ({"journal": "J-OPEN"}, MatchClass.UNPOSTED_IN_D365, "unposted"),
    ],
)
def test_each_difference_of_one_line_gets_its_class(
    tamper: dict[str, str], expected: MatchClass, reason: str
) -> None:
    day = Day()
    day.sale(1, "10.00", invoice="CIV-1")
    fields = {"amount": "10.00", **tamper}
    amount = fields.pop("amount")
    day.line(1, amount, **fields)  # type: ignore[arg-type]
    classes, findings, _ = day.run()
    assert classes == [expected]
    assert [(f.match_class, f.pt_row, f.lines, f.reason) for f in findings] == [
        (expected, 0, (0,), reason)
    ]


def test_the_invoice_compares_case_insensitively_and_an_unmarked_line_is_fine() -> None:
    day = Day()
    day.sale(1, "10.00", invoice="civ-1")
    day.sale(2, "10.00", invoice="CIV-2")
    day.line(1, "10.00", invoice="CIV-1")
    day.line(2, "10.00", invoice="")
    classes, _, _ = day.run()
    assert classes == [MatchClass.MATCHED, MatchClass.MATCHED]


def test_mismatch_wins_over_unposted_and_wrong_party() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.line(1, "9.99", account="US-002", journal="J-OPEN")
    classes, _, _ = day.run()
    assert classes == [MatchClass.AMOUNT_MISMATCH]


def test_unposted_lines_count_as_matched_when_posting_is_not_required() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.line(1, "10.00", journal="J-OPEN")
    classes, _, _ = day.run(require_posted=False)
    assert classes == [MatchClass.MATCHED]


def test_missing_says_whether_paybridge_had_posted_it() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.sale(2, "20.00")
    day.ledger.add_entity_id("paytrace:1:sale", "usmf/J-POSTED/4")
    classes, findings, _ = day.run()
    assert classes == [MatchClass.MISSING_IN_D365] * 2
    assert [(f.pt_row, f.reason, f.ledger_line) for f in findings] == [
        (0, "deleted", ("J-POSTED", 4)),
        (1, "never_posted", None),
    ]


def test_duplicates_list_the_line_paybridge_posted_first() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.line(1, "10.00", number=1)
    day.line(1, "10.00", number=2)
    day.ledger.add_entity_id("paytrace:1:sale", "usmf/J-POSTED/2")
    classes, findings, result = day.run()
    assert classes == [MatchClass.DUPLICATED_IN_D365]
    assert [(f.reason, f.lines, f.ledger_line) for f in findings] == [
        ("duplicate", (1, 0), ("J-POSTED", 2))
    ]
    (batch,) = result.batches
    assert (batch.d365_count, batch.d365_net, batch.difference) == (2, 2000, -1000)


def test_a_hand_keyed_line_with_the_reference_is_found_and_counts_as_a_duplicate() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.sale(2, "3.00")
    day.line(1, "10.00")
    day.line(1, "10.00", payment_id="manual", reference="1")
    day.line(2, "3.00", payment_id="", reference="2")
    classes, findings, _ = day.run()
    assert classes == [MatchClass.DUPLICATED_IN_D365, MatchClass.MATCHED]
    assert findings[0].lines == (0, 1)
    assert day.d365.payment_id(1) == "manual" and day.d365.payment_id(0) == "PT-1-sale"


def test_lines_nothing_settled_explains_are_judged_by_paytrace_state() -> None:
    day = Day()
    day.sale(1, "10.00")
    day.line(1, "10.00")
    day.line(1, "10.00", kind="void", side="debit")  # a void of a settled sale: impossible
    day.line(50, "8.00")  # unknown to PayTrace
    day.line(51, "8.00")  # declined
    day.line(52, "8.00")  # pending: tomorrow's batch
    day.line(53, "8.00")
    day.line(53, "8.00", kind="void", side="debit")  # voided and reversed: nets to zero
    day.line(54, "8.00")  # voided, reversal missing
    day.line(55, "8.00")  # settled in another batch
    statuses = {51: "declined", 52: "pending", 53: "voided", 54: "voided", 55: "settled:7"}
    classes, findings, result = day.run(statuses=statuses)
    assert classes == [MatchClass.MATCHED]
    orphans = {(f.lines, f.reason) for f in findings}
    assert orphans == {
        ((1,), "other_kind"),
        ((2,), "unknown_transaction"),
        ((3,), "declined"),
        ((7,), "voided_not_reversed"),
    }
    assert all(f.match_class is MatchClass.NOT_IN_PAYTRACE and f.pt_row == -1 for f in findings)
    assert {(s.tx, s.lines) for s in result.skipped} == {
        (52, (4,)),
        (53, (5, 6)),
        (55, (8,)),
    }
    assert result.counts[MatchClass.NOT_IN_PAYTRACE] == 4


def test_every_transaction_lands_in_exactly_one_class() -> None:
    day = Day()
    for tx in range(1, 8):
        day.sale(tx, "10.00")
    day.line(1, "10.00")
    day.line(3, "10.50")
    day.line(4, "10.00", account="US-009")
    day.line(5, "10.00")
    day.line(5, "10.00")
    day.line(6, "10.00", journal="J-OPEN")
    day.line(7, "10.00", currency="CAD")
    classes, findings, result = day.run()
    assert classes == [
        MatchClass.MATCHED,
        MatchClass.MISSING_IN_D365,
        MatchClass.AMOUNT_MISMATCH,
        MatchClass.WRONG_PARTY,
        MatchClass.DUPLICATED_IN_D365,
        MatchClass.UNPOSTED_IN_D365,
        MatchClass.AMOUNT_MISMATCH,
    ]
    assert sorted(f.pt_row for f in findings) == [1, 2, 3, 4, 5, 6]
    assert sum(result.counts.values()) == 7


def test_batch_totals_on_both_sides_and_against_paytrace_summary() -> None:
    day = Day()
    day.sale(1, "100.10", batch=7)
    day.sale(2, "0.05", batch=7)
    day.sale(3, "20.00", kind="refund", batch=7)
    day.sale(4, "1.00", batch=8)
    day.line(1, "100.10")
    day.line(2, "0.05")
    day.line(3, "20.00", kind="refund", side="debit")
    day.line(4, "1.01")  # one cent over
    reported = {
        7: ReportedBatch("USD", count=3, sales=10015, refunds=2000, net=8015),
        8: ReportedBatch("USD", count=2, sales=100, refunds=0, net=100),
    }
    _, _, result = day.run(reported=reported)
    b7, b8 = result.batches
    assert (b7.pt_count, b7.pt_sales, b7.pt_refunds, b7.pt_net) == (3, 10015, 2000, 8015)
    assert (b7.d365_count, b7.d365_credits, b7.d365_debits, b7.difference) == (3, 10015, 2000, 0)
    assert b7.ok and b7.mismatches == []
    assert b8.mismatches == [("count", 2, 1)]
    assert b8.difference == -1 and not b8.ok
    assert not result.all_matched


def test_amounts_are_exact_to_the_cent_without_floats() -> None:
    day = Day()
    day.sale(1, "0.10")
    day.sale(2, "0.20")
    day.line(1, "0.100000")  # F&O answers six decimals
    day.line(2, "0.2")
    classes, _, result = day.run()
    assert classes == [MatchClass.MATCHED, MatchClass.MATCHED]
    assert result.batches[0].pt_net == 30


def test_a_batch_with_two_currencies_is_noted() -> None:
    day = Day()
    day.sale(1, "1.00")
    day.sale(2, "1.00", currency="EUR")
    day.line(1, "1.00")
    day.line(2, "1.00", currency="EUR")
    _, _, result = day.run()
    (batch,) = result.batches
    assert batch.notes == ["mixed currencies: transaction 2 is in EUR"] and not batch.ok


@pytest.mark.parametrize(
    "accounts",
    [{1: 11, 3: 13}, {1: 11, 3: 13, 10**9: 5}, {-2: 7, 1: 11, 3: 13}],
)
def test_expected_accounts_are_looked_up_by_code(accounts: dict[int, int]) -> None:
    import polars as pl

    from paybridge.reconcile.matcher import _accounts

    customers = pl.Series([1, 2, 3, 1, 0], dtype=pl.Int32)
    want = _accounts(accounts, customers).to_list()
    assert want == [accounts.get(c) for c in customers.to_list()]
