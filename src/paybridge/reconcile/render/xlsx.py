"""The report as an Excel workbook: the same tables as the HTML page, one sheet each, typed cells.

Amounts are numbers with a two-decimal format that shows the currency, dates are dates in the
company's format, timestamps are local times (Excel has no time zones), so an accountant can sum
and filter them directly.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from paybridge.reconcile.render.document import Amount, Cell, Document, Table
from paybridge.reconcile.render.text import excel_date_format, is_formula_like

_BOLD = Font(bold=True)
_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


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
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 32


def _write_table(sheet: Worksheet, doc: Document, table: Table, first_row: int) -> None:
    for column, name in enumerate(table.columns, start=1):
        cell = sheet.cell(row=first_row, column=column, value=name)
        cell.font = _BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.column_dimensions[get_column_letter(column)].width = max(12, min(len(name) + 4, 40))
    for r, row in enumerate(table.rows, start=first_row + 1):
        for c, value in enumerate(row, start=1):
            _put(sheet, r, c, value, doc)
    sheet.freeze_panes = f"A{first_row + 1}"


def _put(sheet: Worksheet, row: int, column: int, value: Cell, doc: Document) -> None:
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, Amount):
        cell.value = value.value  # openpyxl writes a Decimal as an exact number literal
        decimals = "." + "0" * value.places if value.places else ""
        cell.number_format = (
            f'#,##0{decimals} "{value.currency}";-#,##0{decimals} "{value.currency}"'
        )
    elif isinstance(value, datetime):
        local = value.astimezone(ZoneInfo(doc.timezone)).replace(tzinfo=None)
        cell.value = local
        cell.number_format = excel_date_format(doc.date_format) + " hh:mm"
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = excel_date_format(doc.date_format)
    else:
        cell.value = value
        if isinstance(value, str) and is_formula_like(value):
            cell.data_type = "s"  # text from the systems is text, never a live formula
            cell.quotePrefix = True
