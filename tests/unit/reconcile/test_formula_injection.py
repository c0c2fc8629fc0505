"""Ids from PayTrace or D365 that start like a formula stay text in the XLSX and the CSV report."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from paybridge.reconcile.render import render_csv, render_xlsx
from paybridge.reconcile.render.document import Amount, Document, Table

HOSTILE = ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]


def document() -> Document:
    rows = [(text, Amount(Decimal("-12.50"), "USD")) for text in HOSTILE]
    table = Table("Exceptions", ("Invoice", "Amount"), rows)
    return Document(
        "Reconciliation", "%m/%d/%Y", "America/Los_Angeles", [("Company", "=cmd")], [table]
    )


def test_xlsx_writes_formula_like_text_as_text() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(document())))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@\t\r\n"]
    # XML stores a carriage return as a line feed; what matters is the cell's type.
    assert {c.value for c in texts} >= {h.replace("\r", "\n") for h in HOSTILE} | {"=cmd"}
    assert all(c.data_type == "s" for c in texts)
    amounts = [c.value for c in cells if isinstance(c.value, (int, float, Decimal))]
    assert amounts and all(
        Decimal(str(v)) == Decimal("-12.50") for v in amounts
    )  # numbers stay numbers


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_leads_formula_like_text_with_an_apostrophe(text: str) -> None:
    files = render_csv(document())
    assert sorted(files) == ["exceptions.csv", "summary.csv"]  # one table per file
    rows = [row for data in files.values() for row in csv.reader(io.StringIO(data))]
    cells = [cell for row in rows for cell in row]
    assert "'" + text in cells and "'=cmd" in cells
    assert text not in cells
    assert "-12.50 USD" in " ".join(cells) or any(c.startswith("-12.50") for c in cells)
