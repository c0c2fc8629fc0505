"""The report as one self-contained HTML page (no scripts, no external files), everything escaped."""

from __future__ import annotations

from html import escape

from paybridge.reconcile.render.document import Amount, Cell, Document, Table
from paybridge.reconcile.render.text import format_cell

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.amount { text-align: right; white-space: nowrap; }
td.negative { color: #a00; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: 600; }
"""


def render_html(doc: Document) -> str:
    meta = "".join(
        f"<dt>{escape(name)}</dt><dd>{escape(format_cell(value, doc.date_format, doc.timezone))}</dd>"
        for name, value in doc.meta
    )
    body = "".join(_table(doc, table) for table in doc.tables)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(doc.title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(doc.title)}</h1><dl>{meta}</dl>{body}</body></html>\n"
    )


def _table(doc: Document, table: Table) -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in table.columns)
    if not table.rows:
        rows = f'<tr><td colspan="{len(table.columns)}">None.</td></tr>'
    else:
        rows = "".join(
            "<tr>" + "".join(_cell(doc, cell) for cell in row) + "</tr>" for row in table.rows
        )
    return f"<h2>{escape(table.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _cell(doc: Document, cell: Cell) -> str:
    text = escape(format_cell(cell, doc.date_format, doc.timezone))
    if isinstance(cell, Amount):
        css = "amount negative" if cell.value < 0 else "amount"
        return f'<td class="{css}">{text}</td>'
    return f"<td>{text}</td>"
