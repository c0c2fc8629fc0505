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
FileFormat = Literal["html", "xlsx", "json"]  # one file each; CSV is one file per table
FORMATS: tuple[Format, ...] = ("html", "csv", "xlsx", "json")


def render(report: ReconciliationReport, fmt: FileFormat) -> bytes:
    """The report in ``fmt``, as the bytes of one file (UTF-8 for the text formats)."""
    if fmt == "json":
        return (json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n").encode("utf-8")
    doc = build_document(report)
    if fmt == "xlsx":
        return render_xlsx(doc)
    return render_html(doc).encode("utf-8")


def render_csv_files(report: ReconciliationReport) -> dict[str, bytes]:
    """File name -> bytes: ``summary.csv``, ``batches.csv``, ``exceptions.csv``, one per table."""
    # The BOM makes Excel read each file as UTF-8.
    return {
        name: text.encode("utf-8-sig") for name, text in render_csv(build_document(report)).items()
    }


__all__ = [
    "FORMATS",
    "Amount",
    "Document",
    "FileFormat",
    "Format",
    "Table",
    "build_document",
    "excel_date_format",
    "format_amount",
    "format_cell",
    "render",
    "render_csv",
    "render_csv_files",
    "render_html",
    "render_xlsx",
]
