"""The report as an Excel workbook: the same tables as the HTML page, one sheet each, typed cells.

Amounts are numbers with a format that shows the currency, dates are dates in the company's
format, timestamps are local times whose format names their zone (Excel has no time zones), so an
accountant can sum and filter them directly. Each table sheet has an autofilter over its rows, a
frozen header, columns fitted to their text, and a total row below the filter whose SUBTOTAL
formulas follow what the filter shows.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from paybridge.reconcile.render.document import Amount, Cell, Document, Table
from paybridge.reconcile.render.text import (
    excel_date_format,
    format_cell,
    is_formula_like,
    local_time,
    zone_name,
)

_BOLD = Font(bold=True)
_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MIN_WIDTH, _MAX_WIDTH = 8, 60


def render_xlsx(doc: Document) -> bytes:
    book = Workbook()
    summary = book.active
    assert summary is not None  # a new workbook always has one sheet
    summary.title = "Summary"
    _write_meta(summary, doc)
    for table in doc.tables:
        sheet = book.create_sheet(_sheet_name(table.title))
        _write_table(sheet, doc, table, first_row=1)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(title: str) -> str:
    return _SHEET_CHARS.sub(" ", title)[:31]


def _write_meta(sheet: Worksheet, doc: Document) -> None:
    sheet.cell(row=1, column=1, value=doc.title).font = Font(bold=True, size=14)
    for offset, (name, value) in enumerate(doc.meta, start=3):
        sheet.cell(row=offset, column=1, value=name).font = _BOLD
        _put(sheet, offset, 2, value, doc)
    texts = [format_cell(value, doc.date_format, doc.timezone) for _, value in doc.meta]
    names = max((len(name) for name, _ in doc.meta), default=_MIN_WIDTH)
    values = max((len(t) for t in texts), default=_MIN_WIDTH)
    sheet.column_dimensions["A"].width = names + 2
    sheet.column_dimensions["B"].width = min(values + 2, _MAX_WIDTH)


def _write_table(sheet: Worksheet, doc: Document, table: Table, first_row: int) -> None:
    for column, name in enumerate(table.columns, start=1):
        cell = sheet.cell(row=first_row, column=column, value=name)
        cell.font = _BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(table.rows, start=first_row + 1):
        for c, value in enumerate(row, start=1):
            _put(sheet, r, c, value, doc)
    last_row = first_row + len(table.rows)
    last_column = get_column_letter(len(table.columns))
    sheet.auto_filter.ref = f"A{first_row}:{last_column}{last_row}"
    sheet.freeze_panes = f"A{first_row + 1}"
    if table.totals and table.rows:
        _write_totals(sheet, doc, table, first_row + 1, last_row)
    _fit_columns(sheet, doc, table)


def _write_totals(sheet: Worksheet, doc: Document, table: Table, first: int, last: int) -> None:
    """One row below the filtered range: SUBTOTAL(109) sums only the rows the filter shows."""
    row = last + 1
    for c, column in enumerate(table.columns, start=1):
        total = table.total(column) if column in table.totals else None
        if total is None:
            continue
        letter = get_column_letter(c)
        _put(sheet, row, c, total, doc)  # the number format (and currency) of the column
        cell = sheet.cell(row=row, column=c)
        cell.value = f"=SUBTOTAL(109,{letter}{first}:{letter}{last})"
        cell.font = _BOLD
    if table.columns[0] not in table.totals:
        sheet.cell(row=row, column=1, value="Total").font = _BOLD


def _fit_columns(sheet: Worksheet, doc: Document, table: Table) -> None:
    """Each column as wide as its longest text (header included), within bounds; longer wraps."""
    for c, name in enumerate(table.columns, start=1):
        texts = [format_cell(row[c - 1], doc.date_format, doc.timezone) for row in table.rows]
        longest = max([len(name), *(len(t) for t in texts)])
        width = min(max(longest + 2, _MIN_WIDTH), _MAX_WIDTH)
        sheet.column_dimensions[get_column_letter(c)].width = width
        if longest + 2 > _MAX_WIDTH:
            for r in range(2, len(table.rows) + 2):
                sheet.cell(row=r, column=c).alignment = Alignment(wrap_text=True, vertical="top")


def _put(sheet: Worksheet, row: int, column: int, value: Cell, doc: Document) -> None:
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, Amount):
        cell.value = value.value  # openpyxl writes a Decimal as an exact number literal
        decimals = "." + "0" * value.places if value.places else ""
        cell.number_format = (
            f'#,##0{decimals} "{value.currency}";-#,##0{decimals} "{value.currency}"'
        )
    elif isinstance(value, datetime):
        local = local_time(value, doc.timezone)
        cell.value = local.replace(tzinfo=None)
        zone = zone_name(local).replace('"', "")
        cell.number_format = f'{excel_date_format(doc.date_format)} hh:mm "{zone}"'
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = excel_date_format(doc.date_format)
    else:
        cell.value = value
        if isinstance(value, str) and is_formula_like(value):
            cell.data_type = "s"  # text from the systems is text, never a live formula
            cell.quotePrefix = True
