"""The report as one self-contained HTML page (no scripts, no external files), everything escaped.

Readable in a 1,400 px window: each table shows its ``brief`` columns and folds the rest of a row
(both sides' full records) into a ``<details>`` element on a full-width line beneath it; prose
wraps at spaces, a long token anywhere, short ids never, so nothing widens the page. Each section
folds too. Every time carries its zone, with the exact instant in ``datetime``.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from paybridge.reconcile.render.document import Amount, Cell, Document, Table
from paybridge.reconcile.render.text import format_cell, local_time

_STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; line-height: 1.35; }
h1 { font-size: 1.5em; margin: 0 0 0.5em; }
h2 { display: inline; font-size: 1.2em; }
section > details > summary { cursor: pointer; margin: 1.2em 0 0.3em; }
.rows { color: #666; font-size: 0.9em; margin-left: 0.5em; }
table { border-collapse: collapse; width: 100%; margin: 0.3em 0 1em; font-size: 0.875em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; vertical-align: top; text-align: left;
         overflow-wrap: anywhere; }
th { background: #f2f2f2; overflow-wrap: normal; }
.amount, .token { white-space: nowrap; }
.amount { text-align: right; }
td.negative { color: #a00; }
tfoot td { font-weight: 600; background: #fafafa; }
tbody.record + tbody.record { border-top: 2px solid #bbb; }
tr.fold td { border-top: none; padding-top: 0; background: #fcfcfc; }
tr.fold summary { cursor: pointer; color: #0645ad; width: max-content; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.15em 1em;
     margin: 0.3em 0; }
dl.fields { grid-template-columns: repeat(auto-fill, minmax(16em, 1fr)); gap: 0.4em 1.5em; }
dl.fields > div { min-width: 0; }
dt { font-weight: 600; }
dl.fields dt { font-weight: normal; color: #555; font-size: 0.9em; }
dd { margin: 0; overflow-wrap: anywhere; }
"""
# A text this short without a space is an id, a kind or a date: it stays on one line.
_TOKEN = 24


def render_html(doc: Document) -> str:
    meta = "".join(
        f"<dt>{escape(name)}</dt><dd>{_text(doc, value)}</dd>" for name, value in doc.meta
    )
    body = "".join(_section(doc, table) for table in doc.tables)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{_STYLE}</style></head>"
        f'<body><header><h1>{escape(doc.title)}</h1><dl class="meta">{meta}</dl></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _section(doc: Document, table: Table) -> str:
    count = len(table.rows)
    rows_label = f"{count} row" if count == 1 else f"{count} rows"
    return (
        f'<section id="{escape(table.name)}"><details open><summary>'
        f'<h2>{escape(table.title)}</h2><span class="rows">{rows_label}</span></summary>'
        f"{_table(doc, table)}</details></section>"
    )


def _table(doc: Document, table: Table) -> str:
    shown = table.brief or table.columns
    index = [table.columns.index(c) for c in shown]
    folded = [table.columns.index(c) for c in table.detail_columns]
    amounts = {i for i in range(len(table.columns)) if _is_amount_column(table, i)}
    head = "".join(
        f'<th class="amount">{escape(table.columns[i])}</th>'
        if i in amounts
        else f"<th>{escape(table.columns[i])}</th>"
        for i in index
    )
    width = len(index)
    if not table.rows:
        return (
            f"<table><thead><tr>{head}</tr></thead>"
            f'<tbody><tr><td colspan="{width}">None.</td></tr></tbody></table>'
        )
    if folded:  # one tbody per record: its row, then its folded detail across the table
        body = "".join(
            f'<tbody class="record"><tr>{"".join(_cell(doc, row[i]) for i in index)}</tr>'
            f"{_detail(doc, table, row, folded, width)}</tbody>"
            for row in table.rows
        )
    else:
        rows = ("<tr>" + "".join(_cell(doc, row[i]) for i in index) + "</tr>" for row in table.rows)
        body = f"<tbody>{''.join(rows)}</tbody>"
    return f"<table><thead><tr>{head}</tr></thead>{body}{_totals(doc, table, index)}</table>"


def _is_amount_column(table: Table, i: int) -> bool:
    """Amounts and counts: right-aligned, header included."""
    return any(isinstance(row[i], Amount | int) for row in table.rows)


def _totals(doc: Document, table: Table, index: list[int]) -> str:
    if not table.totals:
        return ""
    cells = []
    for n, i in enumerate(index):
        column = table.columns[i]
        if column in table.totals:
            cells.append(_cell(doc, table.total(column)))
        else:
            cells.append('<td class="token">Total</td>' if n == 0 else "<td></td>")
    return f"<tfoot><tr>{''.join(cells)}</tr></tfoot>"


def _detail(
    doc: Document, table: Table, row: tuple[Cell, ...], folded: list[int], width: int
) -> str:
    """The row's other columns, folded: a line beneath it as wide as the table."""
    items = "".join(
        f"<div><dt>{escape(table.columns[i])}</dt><dd>{_text(doc, row[i])}</dd></div>"
        for i in folded
        if row[i] not in (None, "")
    )
    if not items:
        return ""
    return (
        f'<tr class="fold"><td colspan="{width}"><details><summary>Both sides: every field'
        f'</summary><dl class="fields">{items}</dl></details></td></tr>'
    )


def _text(doc: Document, cell: Cell) -> str:
    """A cell as escaped text; a time as ``<time>`` with its exact instant and offset."""
    text = escape(format_cell(cell, doc.date_format, doc.timezone))
    if isinstance(cell, datetime):
        instant = local_time(cell, doc.timezone).isoformat(timespec="seconds")
        return f'<time datetime="{escape(instant)}">{text}</time>'
    return text


def _cell(doc: Document, cell: Cell) -> str:
    text = _text(doc, cell)
    if isinstance(cell, Amount):
        css = "amount negative" if cell.value < 0 else "amount"
        return f'<td class="{css}">{text}</td>'
    if isinstance(cell, int):
        return f'<td class="amount">{text}</td>'
    shown = format_cell(cell, doc.date_format, doc.timezone)
    if isinstance(cell, str) and len(shown) <= _TOKEN and " " not in shown:
        return f'<td class="token">{text}</td>'
    return f"<td>{text}</td>"
