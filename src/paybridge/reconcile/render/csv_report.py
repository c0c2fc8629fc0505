"""The report as CSV files, one table per file, so a script or a spreadsheet reads each as it is.

``summary.csv`` holds the run's facts and the count per class (two columns, Item and Value);
every other table is a file of its own named after it (``batches.csv``, ``exceptions.csv``, ...)
with one header row. Cells are text for people; formula-like text is defused (``csv_text``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from paybridge.reconcile.render.document import Cell, Document
from paybridge.reconcile.render.text import csv_text

SUMMARY = "summary.csv"
_IN_SUMMARY = "classes"  # the count per class is part of summary.csv


def render_csv(doc: Document) -> dict[str, str]:
    """File name -> CSV text (CRLF line ends, as RFC 4180 has them)."""
    summary: list[tuple[Cell, ...]] = [(name, value) for name, value in doc.meta]
    files: dict[str, str] = {}
    for table in doc.tables:
        if table.name == _IN_SUMMARY:
            summary.extend((f"{table.columns[1]}: {row[0]}", row[1]) for row in table.rows)
            continue
        files[f"{table.name}.csv"] = _csv(doc, table.columns, table.rows)
    return {SUMMARY: _csv(doc, ("Item", "Value"), summary), **files}


def _csv(doc: Document, columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_text(c, doc.date_format, doc.timezone) for c in row])
    return buffer.getvalue()
