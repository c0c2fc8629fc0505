"""The report as CSV: each table in turn under a title row, cells as text for people."""

from __future__ import annotations

import csv
import io

from paybridge.reconcile.render.document import Document
from paybridge.reconcile.render.text import csv_text


def render_csv(doc: Document) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([doc.title])
    for name, value in doc.meta:
        writer.writerow([name, csv_text(value, doc.date_format, doc.timezone)])
    for table in doc.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow([csv_text(c, doc.date_format, doc.timezone) for c in row])
    return buffer.getvalue()
