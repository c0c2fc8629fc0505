"""Report layout: HTML folds detail and names zones, XLSX filters/totals/fits, CSV one table a file."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from paybridge.reconcile.render import render_csv, render_html, render_xlsx
from paybridge.reconcile.render.document import Amount, Cell, Document, Table

SETTLED = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)  # 12:00 PDT
LONG = "The D365 line was keyed by hand into another journal; " * 3


def usd(text: str) -> Amount:
    return Amount(Decimal(text), "USD")


def document() -> Document:
    batches = Table(
        "Batches",
        ("Batch", "Settled", "PayTrace count", "PayTrace net", "D365 net", "Journal", "Status"),
        [
            (1, SETTLED, 7, usd("365.00"), usd("359.00"), "GJ-1 (sent)", "6.00 USD apart"),
            (2, SETTLED, 1, usd("-15.00"), usd("-15.00"), "", "OK"),
        ],
        key="batches",
        brief=("Batch", "Settled", "PayTrace net", "D365 net", "Status"),
        totals=("PayTrace count", "PayTrace net", "D365 net"),
    )
    exceptions = Table(
        "Exceptions",
        ("Class", "Transaction", "What is wrong", "D365 journal", "D365 posted"),
        [("Duplicated in D365", "1001", LONG, "CP-000123", "no")],
        key="exceptions",
        brief=("Class", "Transaction", "What is wrong"),
    )
    empty = Table("Heal", ("Event key", "Amount"), key="heal", totals=("Amount",))
    classes = Table("Summary by class", ("Class", "Transactions"), [("Matched", 5)], key="classes")
    meta: list[tuple[str, Cell]] = [
        ("Company", "USMF"),
        ("Settlement day", date(2026, 3, 10)),
        ("Generated", SETTLED),
    ]
    return Document(
        "Settlement reconciliation USMF",
        "%m/%d/%Y",
        "America/Los_Angeles",
        meta,
        [classes, batches, exceptions, empty],
    )


def test_a_table_refuses_brief_or_total_columns_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="no columns"):
        Table("Heal", ("Amount",), brief=("Amount", "Kind"))


def test_totals_sum_one_currency_and_counts_only() -> None:
    batches = document().tables[1]
    assert batches.total("PayTrace net") == usd("350.00")
    assert batches.total("PayTrace count") == 8
    mixed = Table("T", ("Amount",), [(usd("1"),), (Amount(Decimal(1), "EUR"),)], totals=("Amount",))
    assert mixed.total("Amount") is None  # never a sum of dollars and euros


def test_html_shows_brief_columns_and_folds_the_rest_into_details() -> None:
    page = render_html(document())
    batches = page[page.index('<section id="batches">') : page.index('<section id="exceptions">')]
    header = re.findall(r"<th[^>]*>([^<]*)</th>", batches)
    assert header == ["Batch", "Settled", "PayTrace net", "D365 net", "Status"]
    assert "<dt>Journal</dt><dd>GJ-1 (sent)</dd>" in batches  # folded, not dropped
    assert "<dt>PayTrace count</dt><dd>7</dd>" in batches
    # Each record is a tbody: its row, then its detail folded on a line as wide as the table.
    assert batches.count('<tbody class="record"><tr>') == 2
    assert batches.count('<tr class="fold"><td colspan="5"><details><summary>') == 2
    # Totals of the shown columns in a footer; the folded count is totalled in the workbook.
    assert '<tfoot><tr><td class="token">Total</td><td></td>' in batches
    assert "350.00 USD" in batches
    assert page.count("<details open>") == 4  # every section folds


def test_html_names_the_zone_of_every_time() -> None:
    page = render_html(document())
    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert times and all(shown.endswith(" PDT") for _, shown in times)
    assert {instant for instant, _ in times} == {"2026-03-10T12:00:00-07:00"}
    assert "03/10/2026 12:00 PDT" in page


def test_html_says_none_for_an_empty_table_and_escapes_text() -> None:
    doc = document()
    doc.tables[2].rows.append(("<script>", "1002", "x", "", ""))
    page = render_html(doc)
    assert "<script>" not in page.split("<style>")[0] + page.split("</style>")[1]
    assert "&lt;script&gt;" in page
    heal = page[page.index('<section id="heal">') :]
    assert ">None.</td>" in heal and "<tfoot>" not in heal


def test_xlsx_has_autofilter_totals_fitted_columns_and_zoned_times() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(document())))
    sheet = book["Batches"]
    assert sheet.auto_filter.ref == "A1:G3"  # header and rows; the total row stays outside
    assert sheet.freeze_panes == "A2"
    assert sheet["A4"].value == "Total"
    assert sheet["C4"].value == "=SUBTOTAL(109,C2:C3)"
    assert sheet["D4"].value == "=SUBTOTAL(109,D2:D3)" and '"USD"' in sheet["D4"].number_format
    assert sheet["B4"].value is None and sheet["F4"].value is None  # no total of times or text
    assert sheet["B2"].number_format == 'mm/dd/yyyy hh:mm "PDT"'
    assert sheet["B2"].value == datetime(2026, 3, 10, 12, 0)
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDEFG"}
    assert widths["A"] == 8 and widths["B"] == len("03/10/2026 12:00 PDT") + 2
    assert widths["F"] == len("GJ-1 (sent)") + 2
    wide = book["Exceptions"]
    assert wide.column_dimensions["C"].width == 60 and wide["C2"].alignment.wrap_text
    assert book["Heal"].auto_filter.ref == "A1:B1" and book["Heal"].max_row == 1  # no total row
    summary = book["Summary"]
    assert summary.column_dimensions["B"].width == len("03/10/2026 12:00 PDT") + 2
    assert summary["B5"].number_format == 'mm/dd/yyyy hh:mm "PDT"'


def test_csv_is_one_table_per_file_with_the_summary_first() -> None:
    files = render_csv(document())
    assert list(files) == ["summary.csv", "batches.csv", "exceptions.csv", "heal.csv"]
    summary = list(csv.reader(io.StringIO(files["summary.csv"])))
    assert summary[0] == ["Item", "Value"]
    assert ["Generated", "03/10/2026 12:00 PDT"] in summary
    assert ["Transactions: Matched", "5"] in summary
    batches = list(csv.reader(io.StringIO(files["batches.csv"])))
    assert batches[0][:3] == ["Batch", "Settled", "PayTrace count"]
    assert len(batches) == 3 and all(len(row) == 7 for row in batches)  # no title or total rows
    assert list(csv.reader(io.StringIO(files["heal.csv"]))) == [["Event key", "Amount"]]
