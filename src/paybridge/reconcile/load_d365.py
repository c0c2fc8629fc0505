"""Read D365's side of a day: the payment journal lines of the day's transactions and of the day.

Two reads, merged by line key: the lines whose PaymentReference names a settled transaction
(whatever their date; a sale may settle days after it was booked), and the lines dated on the
day whose PaymentId is PayBridge's (``PT-*``), which is where lines unknown to PayTrace show
up. Then the journal headers of those lines, for ``IsPosted``. Lines stream page by page into
column stores; the raw rows are kept for the report only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from paybridge.connectors.dynamics import DynamicsClient, Expr, F, Query
from paybridge.reconcile.columns import Codes, D365Columns
from paybridge.reconcile.load_paytrace import Progress, quiet

LINES = "CustomerPaymentJournalLines"
HEADERS = "CustomerPaymentJournalHeaders"
LINE_FIELDS = (
    "dataAreaId",
    "JournalBatchNumber",
    "LineNumber",
    "TransactionDate",
    "AccountType",
    "AccountDisplayValue",
    "CurrencyCode",
    "CreditAmount",
    "DebitAmount",
    "PaymentReference",
    "PaymentId",
    "MarkedInvoice",
    "Voucher",
)


@dataclass
class D365Day:
    columns: D365Columns
    rows: list[dict[str, Any]] = field(default_factory=list)
    posted_journals: set[str] = field(default_factory=set)
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)


def _any_of(name: str, values: Sequence[str]) -> Expr:
    condition = F(name) == values[0]
    for value in values[1:]:
        condition = condition | (F(name) == value)
    return condition


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


class D365Reader:
    """Streams a company's payment journal lines into ``D365Columns``."""

    def __init__(self, client: DynamicsClient, company: str, codes: Codes, chunk: int) -> None:
        self.client = client
        self.company = company
        self.chunk = chunk
        self.day = D365Day(D365Columns(codes))
        self._seen: set[tuple[str, str]] = set()

    async def load(
        self, references: Sequence[str], day: date, progress: Progress = quiet
    ) -> D365Day:
        total = len(references)
        for done, part in enumerate(_chunks(references, self.chunk)):
            progress("D365 lines", done * self.chunk, total)
            await self._read(_any_of("PaymentReference", part))
        progress("D365 lines", total, total)
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        dated = (
            (F("TransactionDate") >= start)
            & (F("TransactionDate") < start + timedelta(days=1))
            & F("PaymentId").wildcard("PT-*")
        )
        await self._read(dated)
        await self._headers()
        self.day.columns.mark_posted(self.day.posted_journals)
        return self.day

    async def _read(self, condition: Expr) -> None:
        query = Query(
            filter=condition & (F("dataAreaId") == self.company),
            select=list(LINE_FIELDS),
            cross_company=True,
        )
        async for row in self.client.stream(LINES, query):
            self._add(row)

    def _add(self, row: dict[str, Any]) -> None:
        journal = str(row.get("JournalBatchNumber") or "")
        number = _decimal(row.get("LineNumber"))
        identity = (journal.casefold(), str(number.normalize()))
        if identity in self._seen:
            return
        self._seen.add(identity)
        self.day.rows.append(row)
        self.day.columns.add(
            str(row.get("PaymentId") or ""),
            str(row.get("PaymentReference") or ""),
            _decimal(row.get("CreditAmount")),
            _decimal(row.get("DebitAmount")),
            str(row.get("CurrencyCode") or ""),
            str(row.get("AccountDisplayValue") or ""),
            str(row.get("MarkedInvoice") or ""),
            journal,
            number,
        )

    async def _headers(self) -> None:
        journals = sorted({str(r.get("JournalBatchNumber") or "") for r in self.day.rows} - {""})
        for part in _chunks(journals, self.chunk):
            query = Query(
                filter=_any_of("JournalBatchNumber", part) & (F("dataAreaId") == self.company),
                select=["dataAreaId", "JournalBatchNumber", "IsPosted", "Description"],
                cross_company=True,
            )
            async for header in self.client.stream(HEADERS, query):
                number = str(header["JournalBatchNumber"])
                self.day.journals[number] = header
                if str(header.get("IsPosted", "")).lower() in ("yes", "true"):
                    self.day.posted_journals.add(number)
