"""Column stores: ids read back exactly, amounts exact in minor units, codes compared as F&O does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.reconcile.columns import (
    KIND_CODE,
    NO_TX,
    UNKNOWN,
    Codes,
    D365Columns,
    LedgerColumns,
    PayTraceColumns,
    check_tx,
    from_minor,
    to_minor,
    transaction_text,
)


def test_payment_ids_and_references_read_back() -> None:
    d = D365Columns(Codes())
    d.add("PT-123-sale", "123", Decimal("1.00"), Decimal(0), "USD", "US\\-001", "", "J1", 1)
    d.add("PT-123-refund", "0123", Decimal(0), Decimal("1.00"), "USD", "US\\-001", "", "J1", 2)
    d.add("by hand", "456", Decimal("2.00"), Decimal(0), "USD", "US\\-001", "", "J1", 3)
    d.add("by hand", "ABC", Decimal("2.00"), Decimal(0), "USD", "US\\-001", "", "J1", 4)
    assert list(d.tx) == [123, 123, 456, -1]
    assert list(d.kind) == [0, 2, UNKNOWN, UNKNOWN]
    assert [d.payment_id(r) for r in range(4)] == [
        "PT-123-sale",
        "PT-123-refund",
        "by hand",
        "by hand",
    ]
    assert [d.reference(r) for r in range(4)] == ["123", "0123", "456", "ABC"]
    assert set(d.odd_ids) == {1, 2, 3}


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("125.40", "USD", 12540),
        ("125.400000", "USD", 12540),
        ("0.005", "USD", 0),  # half-even below the cent
        ("0.015", "USD", 2),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
    ],
)
def test_amounts_become_exact_minor_units(amount: str, currency: str, minor: int) -> None:
    pt = PayTraceColumns(Codes())
    pt.add(1, "sale", Decimal(amount), currency, "C", "", 1)
    assert pt.minor[0] == minor == to_minor(Decimal(amount), {"JPY": 0, "KWD": 3}.get(currency, 2))


def test_minor_units_come_back_as_decimals_with_the_currency_places() -> None:
    assert from_minor(12540, "USD") == Decimal("125.40") and str(from_minor(-5, "USD")) == "-0.05"
    assert str(from_minor(1000, "JPY")) == "1000"


def test_only_money_facts_are_settled_rows() -> None:
    with pytest.raises(ValueError, match="sale, capture, refund or return"):
        PayTraceColumns(Codes()).add(1, "void", Decimal(1), "USD", "C", "", 1)


def test_codes_compare_like_fo_case_and_escaping_aside() -> None:
    codes = Codes()
    a, b, c = codes.code("US\\-001"), codes.code("us-001"), codes.code("US-002")
    assert a != b and codes.same(a, b) and not codes.same(a, c)


def test_posted_comes_from_the_headers() -> None:
    d = D365Columns(Codes())
    for journal in ("J1", "J2", "J1"):
        d.add("PT-1-sale", "1", Decimal(1), Decimal(0), "USD", "A", "", journal, 1)
    d.mark_posted({"J1", "J9"})
    assert list(d.posted) == [1, 0, 1]


def test_ledger_entries_read_the_posting_flow_entity_id() -> None:
    ledger = LedgerColumns(Codes())
    assert ledger.add_entity_id("paytrace:77:sale", "usmf/USMF-000001/3")
    assert ledger.add_entity_id("paytrace:78:refund:heal:run-1", "usmf/USMF-000001/4")
    assert not ledger.add_entity_id("journal:usmf:x", "usmf/USMF-000001/1")
    assert not ledger.add_entity_id("paytrace:79:sale", "usmf/USMF-000001/x")
    assert list(ledger.tx) == [77, 78] and list(ledger.kind) == [0, 2]
    assert [ledger.codes.text(j) for j in ledger.journal] == ["USMF-000001"] * 2
    assert list(ledger.line) == [3, 4]


def test_checks_take_ids_of_their_own_apart_from_card_transactions() -> None:
    assert check_tx(1) < NO_TX and check_tx(1) != check_tx(2)
    assert transaction_text(check_tx(900001)) == "ACH900001" and transaction_text(5) == "5"
    d = D365Columns(Codes())
    d.add("PT-ACH900001-sale", "ACH900001", Decimal(4), Decimal(0), "USD", "a", "", "J1", 1)
    d.add("PT-ACH900001-return", "ACH900001", Decimal(0), Decimal(4), "USD", "a", "", "J1", 2)
    d.add("PT-900001-sale", "900001", Decimal(4), Decimal(0), "USD", "a", "", "J1", 3)
    d.add("PT-ACH0900001-sale", "ACH0900001", Decimal(4), Decimal(0), "USD", "a", "", "J1", 4)
    assert list(d.tx) == [check_tx(900001)] * 2 + [900001, check_tx(900001)]
    assert list(d.kind) == [KIND_CODE["sale"], KIND_CODE["return"], 0, 0]
    assert set(d.odd_ids) == {3}  # the leading zero does not read back
    assert [d.payment_id(r) for r in range(4)] == [
        "PT-ACH900001-sale", "PT-ACH900001-return", "PT-900001-sale", "PT-ACH0900001-sale",
    ]  # fmt: skip
    pt = PayTraceColumns(d.codes)
    pt.add(check_tx(900001), "return", Decimal(4), "USD", "C", "", 0)
    with pytest.raises(ValueError, match="not void"):
        pt.add(check_tx(900001), "void", Decimal(4), "USD", "C", "", 0)
    assert d.transactions_besides(pt) == {900001}  # a check's state comes from the check export
    ledger = LedgerColumns(Codes())
    assert ledger.add_entity_id("paytrace:ACH900001:return", "usmf/USMF-000001/2")
    assert ledger.add_entity_id("paytrace:second/77:sale", "usrt/USRT-000001/1")
    assert list(ledger.tx) == [check_tx(900001), 77]
    assert list(ledger.kind) == [KIND_CODE["return"], 0]


D365_NAMES = ("payment_id", "reference", "credit", "debit", "currency", "account", "invoice",
              "journal", "line")  # fmt: skip


def _d365_rows() -> list[tuple[object, ...]]:
    d = Decimal
    return [
        ("PT-123-sale", "123", d("1.00"), d(0), "USD", "US\\-001", "", "J1", d(1)),
        ("PT-123-refund", "0123", d(0), d("1.00"), "USD", "US\\-001", "", "J1", d(2)),
        ("by hand", "456", d("2.00"), d(0), "USD", "US\\-001", "", "J1", d(3)),
        ("by hand", "ABC", d("2.00"), d(0), "USD", "US\\-001", "INV", "J1", d("4.5")),
        ("PT-123-adjust", "123", d("0.10"), d(0), "USD", "US\\-001", "", "J1", d(5)),
        ("PT-9-?", "9", d("0.005"), d(0), "USD", "a", "", "J2", d(6)),
        ("PT-8-adjust", "8", d("1"), d(0), "JPY", "a", "", "J2", d(7)),
        ("PT-7-sale", "7", d("1.2345"), d(0), "KWD", "a", "I-7", "J2", d(8)),
    ]


def test_a_page_of_columns_reads_as_its_rows_do() -> None:
    import polars as pl

    rows = _d365_rows()
    by_row, by_page = D365Columns(Codes()), D365Columns(Codes())
    by_row.extend(rows)  # type: ignore[arg-type]
    columns = list(zip(*rows, strict=True))
    by_page.extend_page(
        pl.DataFrame({n: list(c) for n, c in zip(D365_NAMES, columns, strict=True)})
    )
    for d in (by_row, by_page):
        d.mark_posted({"J1"})
    for name in ("tx", "kind", "credit", "debit", "line", "posted"):
        assert list(getattr(by_page, name)) == list(getattr(by_row, name)), name
    for name in ("currency", "account", "journal"):
        texts = [by_row.codes.text(c) for c in getattr(by_row, name)]
        assert [by_page.codes.text(c) for c in getattr(by_page, name)] == texts, name
    assert list(by_page.invoice) == list(by_row.invoice) == ["", "", "", "INV", "", "I-7", ""]
    assert by_page.odd_ids == by_row.odd_ids
    assert list(by_page.credit) == [110, 0, 200, 200, 0, 1234, 1]  # adjust folded; half-even


def test_a_page_of_float_amounts_is_refused() -> None:
    import polars as pl

    page = pl.DataFrame(
        {
            "tx": [1],
            "kind": ["sale"],
            "amount": [1.1],
            "currency": ["USD"],
            "customer": ["C"],
            "invoice": [""],
            "batch": [1],
        }
    )
    with pytest.raises(TypeError, match="never float"):
        PayTraceColumns(Codes()).extend_page(page)


def test_the_lines_name_transactions_besides_the_days_rows() -> None:
    codes = Codes()
    pt, d = PayTraceColumns(codes), D365Columns(codes)
    pt.add(1, "sale", Decimal(1), "USD", "C", "", 1)
    for payment_id, reference in (("PT-1-sale", "1"), ("PT-2-sale", "2"), ("x", "3"), ("x", "?")):
        d.add(payment_id, reference, Decimal(1), Decimal(0), "USD", "A", "", "J", 1)
    assert d.transactions_besides(pt) == {2, 3}


@pytest.mark.parametrize(
    ("payment_id", "reference"),
    [
        ("PT-123-sale", "123"),
        ("PT-123-sale", "124"),  # the reference names another transaction
        ("PT-0123-refund", "0123"),  # a leading zero does not read back
        ("PT-123-refund", " 123"),
        ("PT-12-3-sale", "12"),
        ("PT-12-salt", "12"),
        ("PT-9-?", "9"),
        ("PT-١٢-sale", "١٢"),  # digits of another script
        ("PT-1234567890123456789-capture", "1234567890123456789"),  # past 18 digits
        ("pt-5-sale", "5"),
        ("PT-ACH900001-sale", "ACH900001"),  # an ACH check
        ("PT-ACH900001-return", "ACH900001"),
        ("PT-ACH0900001-sale", "ACH0900001"),
        ("PT-ACH900001-sale", "900001"),  # a check is not the card transaction of its number
        ("by hand", "ACH12"),
        ("by hand", "456"),
        ("", ""),
    ],
)
def test_a_page_reads_payment_ids_as_the_row_path_does(payment_id: str, reference: str) -> None:
    import polars as pl

    row = ("PT-77-sale", "77", Decimal(1), Decimal(0), "USD", "a", "", "J1", 1)
    odd = (payment_id, reference, Decimal(1), Decimal(0), "USD", "a", "", "J1", 2)
    by_row, by_page = D365Columns(Codes()), D365Columns(Codes())
    by_row.extend([row, odd])
    by_page.extend_page(
        pl.DataFrame(
            {n: list(c) for n, c in zip(D365_NAMES, zip(row, odd, strict=True), strict=True)}
        )
    )
    assert (list(by_page.tx), list(by_page.kind)) == (list(by_row.tx), list(by_row.kind))
    assert by_page.odd_ids == by_row.odd_ids
    assert by_page.payment_id(1) == payment_id and by_page.reference(1) == reference


def test_texts_are_taken_by_position_across_many_chunks() -> None:
    import polars as pl

    from paybridge.reconcile.vectors import Texts

    texts, expected = Texts(), []
    for chunk in range(40):
        values = [f"INV-{chunk}-{n}" for n in range(chunk % 4)]  # some chunks empty
        texts.extend(pl.Series(values, dtype=pl.String))
        expected += values
    texts.append("last")
    expected.append("last")
    rows = [len(expected) - 1, 5, None, 0, 17, 5]  # fewer than the column: chunk by chunk
    taken = texts.take(pl.Series(rows, dtype=pl.Int64)).to_list()
    assert taken == [expected[r or 0] for r in rows]
    everything = list(range(len(expected)))[::-1]  # as many as the column: one take
    assert texts.take(pl.Series(everything, dtype=pl.Int64)).to_list() == expected[::-1]
