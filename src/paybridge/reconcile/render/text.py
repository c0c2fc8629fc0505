"""Cells as text for people: the company's date format, times with their zone, amounts with their currency."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from paybridge.reconcile.render.document import Amount, Cell


def format_amount(amount: Amount) -> str:
    """``1,234.50 USD`` (the currency's own number of decimals, 2 for most)."""
    return f"{amount.value:,.{amount.places}f} {amount.currency}"


# A spreadsheet reads a cell that starts with one of these as a formula (CSV and XLSX alike).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """Text from PayTrace or D365 (an invoice id, a customer id) that a spreadsheet would run."""
    return text.startswith(FORMULA_STARTS)


def csv_text(cell: Cell, date_format: str, timezone: str) -> str:
    """A CSV cell: formula-like text is led by an apostrophe, so it is shown, never computed."""
    text = format_cell(cell, date_format, timezone)
    return "'" + text if isinstance(cell, str) and is_formula_like(cell) else text


def format_cell(cell: Cell, date_format: str, timezone: str) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Amount):
        return format_amount(cell)
    if isinstance(cell, datetime):
        local = local_time(cell, timezone)
        return f"{local.strftime(date_format)} {local:%H:%M} {zone_name(local)}"
    if isinstance(cell, date):
        return cell.strftime(date_format)
    return str(cell)


def local_time(moment: datetime, timezone: str) -> datetime:
    """An aware time in ``timezone`` (a naive one is taken as UTC, as the report keeps them)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(ZoneInfo(timezone))


def zone_name(local: datetime) -> str:
    """The zone as people read it on a clock (``PDT``); its UTC offset where it has no letters."""
    name = local.tzname() or ""
    if name.isalpha():
        return name
    offset = local.strftime("%z")  # zones without an abbreviation are named "+03" and the like
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


_EXCEL_PARTS = {
    "%d": "dd", "%m": "mm", "%Y": "yyyy", "%y": "yy", "%b": "mmm", "%B": "mmmm",
    "%H": "hh", "%M": "mm", "%S": "ss", "%%": "%",
}  # fmt: skip


def excel_date_format(date_format: str) -> str:
    """A strftime format as an Excel number format (``%m/%d/%Y`` -> ``mm/dd/yyyy``)."""
    out = ""
    i = 0
    while i < len(date_format):
        part = date_format[i : i + 2]
        if part in _EXCEL_PARTS:
            out += _EXCEL_PARTS[part]
            i += 2
            continue
        ch = date_format[i]
        out += ch if ch in "/-.: ," else f"\\{ch}"
        i += 1
    return out
