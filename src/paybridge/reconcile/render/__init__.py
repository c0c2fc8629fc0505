"""Reconciliation reports for people (HTML, XLSX, CSV) and machines (JSON), from one document."""

from __future__ import annotations

import json
from typing import Literal

from paybridge.reconcile.render.csv_report import render_csv
from paybridge.reconcile.render.document import Amount, Document, Table, build_document
from paybridge.reconcile.render.html import render_html
from paybridge.reconcile.render.text import excel_date_format, format_amount, format_cell
from paybridge.reconcile.render.xlsx import render_xlsx
from paybridge.reconcile.report import ReconciliationReport

Format = Literal["html", "csv", "xlsx", "json"]
FORMATS: tuple[Format, ...] = ("html", "csv", "xlsx", "json")


def render(report: ReconciliationReport, fmt: Format) -> bytes:
    """The report in ``fmt``, as the bytes of a file (UTF-8 for the text formats)."""
    if fmt == "json":
        return (json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n").encode("utf-8")
    doc = build_document(report)
    if fmt == "xlsx":
        return render_xlsx(doc)
    if fmt == "csv":
        return render_csv(doc).encode("utf-8-sig")  # the BOM makes Excel read it as UTF-8
    return render_html(doc).encode("utf-8")


__all__ = [
    "FORMATS",
    "Amount",
    "Document",
    "Format",
    "Table",
    "build_document",
    "excel_date_format",
    "format_amount",
    "format_cell",
    "render",
    "render_csv",
    "render_html",
    "render_xlsx",
]
