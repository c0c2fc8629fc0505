"""Level 2/3 data of a D365 invoice: pre-flight checks before a sale (or an order's capture),
the Level 3 call after it.

Level 2 rides on the sale itself (``invoice_id``, ``customer_reference_id`` = the PO number,
``tax_amount``: the ``invoice_to_paytrace_sale`` template). Level 3 is a separate call after an
approved, unsettled Visa or Mastercard sale (spec §5.9): the header (tax, freight, duty,
discount, PO) and the invoice's lines (``SalesInvoiceV2Lines``). Before the sale is planned the
data is checked (required fields present, the lines and charges add up to the amount charged,
the tax plausible): each problem is a ``Finding`` naming its field. ``level3.on_failure``
says what an error does: ``warn`` (the charge goes, the findings are kept with it) or ``block``
(the charge is refused, 422, nothing sent). The Level 3 call is made at most once per charge
(an intent ``paytrace.level3``): a lost answer is not resent, since PayTrace would add the lines
twice; the card brand is found by trying Visa, then Mastercard (PayTrace answers 59 for another
brand).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

from paybridge.charging.documents import Document
from paybridge.charging.settings import Level3Settings
from paybridge.connectors.dynamics import DynamicsClient, F, Query
from paybridge.connectors.paytrace import LevelThreeLineItem, LevelThreeRequest, PayTraceClient
from paybridge.errors import DataError, PayBridgeError
from paybridge.runtime.intents import PLANNED, IntentStore
from paybridge.runtime.ledger import Ledger

log = logging.getLogger(__name__)

INVOICE_LINES = "SalesInvoiceV2Lines"
INVOICE_HEADERS = "SalesInvoiceHeadersV2"
LEVEL3_STEP = "paytrace.level3"
CENT = Decimal("0.01")
# What the checks read of the invoice header (the template reads its own).
HEADER_FIELDS = ("CustomersOrderReference", "TotalTaxAmount", "TotalChargeAmount",
                 "TotalDiscountAmount", "TotalInvoiceAmount")  # fmt: skip
_LINE_FIELDS = ["InvoiceNumber", "LineCreationSequenceNumber", "ProductNumber", "ProductName", "ProductDescription",
                "InvoicedQuantity", "SalesUnitSymbol", "SalesPrice", "LineAmount",
                "LineTotalDiscountAmount", "LineTotalTaxAmount"]  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One problem with the Level 2/3 data; ``error`` blocks under ``on_failure: block``."""

    code: str
    severity: Literal["error", "warning"]
    field: str
    message: str


@dataclass(frozen=True)
class Line:
    number: int
    product_id: str
    description: str
    quantity: Decimal | None
    unit: str
    unit_cost: Decimal | None
    amount: Decimal | None
    discount: Decimal | None


@dataclass(frozen=True)
class Level3Data:
    """What an invoice says for Level 2/3, read from D365."""

    invoice: str
    po_number: str
    tax: Decimal | None
    freight: Decimal
    duty: Decimal
    discount: Decimal
    lines: tuple[Line, ...] = field(default_factory=tuple)

    @property
    def lines_total(self) -> Decimal:
        return sum((line.amount or Decimal(0) for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class Preflight:
    """The data and what the checks found; ``status`` is ok, warnings, errors (charged under
    ``warn``) or blocked."""

    data: Level3Data
    findings: tuple[Finding, ...]
    blocked: bool

    @property
    def status(self) -> str:
        if self.blocked:
            return "blocked"
        if any(f.severity == "error" for f in self.findings):
            return "errors"
        return "warnings" if self.findings else "ok"

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "findings": [asdict(f) for f in self.findings]}


def _money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def check(data: Level3Data, amount: Decimal, settings: Level3Settings) -> list[Finding]:
    """The pre-flight checks of ``data`` for a charge of ``amount`` (pure)."""
    found: list[Finding] = []
    if not data.po_number.strip():
        severity: Literal["error", "warning"] = "error" if settings.require_po else "warning"
        found.append(Finding("po_missing", severity, "CustomersOrderReference",
                             "no PO number (customer reference): Level 2 needs one"))  # fmt: skip
    if not data.lines:
        found.append(Finding("no_lines", "error", INVOICE_LINES, "the invoice has no lines"))
    for line in data.lines:
        found += _line_findings(line)
    found += _total_findings(data, amount)
    found += _tax_findings(data, settings)
    return found


def _line_findings(line: Line) -> list[Finding]:
    where = f"{INVOICE_LINES}[{line.number}]"
    missing = [name for name, value in (("ProductNumber", line.product_id),
               ("ProductName", line.description), ("InvoicedQuantity", line.quantity),
               ("SalesPrice", line.unit_cost), ("LineAmount", line.amount)) if value in (None, "")]  # fmt: skip
    found = [
        Finding("line_field_missing", "error", f"{where}.{name}", f"line {line.number}: no {name}")
        for name in missing
    ]
    if not missing and line.quantity is not None and line.unit_cost is not None:
        expected = (line.quantity * line.unit_cost - (line.discount or 0)).quantize(CENT)
        if line.amount is not None and abs(expected - line.amount) > CENT:
            found.append(Finding(
                "line_math", "warning", f"{where}.LineAmount",
                f"line {line.number}: {line.quantity} x {line.unit_cost} is {expected}, "
                f"the line says {line.amount}",
            ))  # fmt: skip
    return found


def _total_findings(data: Level3Data, amount: Decimal) -> list[Finding]:
    total = data.lines_total + (data.tax or 0) + data.freight + data.duty - data.discount
    if abs(total.quantize(CENT) - amount) <= CENT:
        return []
    return [Finding(
        "totals_differ", "error", "amount",
        f"lines {data.lines_total:f} + tax {data.tax or 0:f} + freight {data.freight:f} + duty "
        f"{data.duty:f} - discount {data.discount:f} = {total:f}, but {amount:f} is charged",
    )]  # fmt: skip


def _tax_findings(data: Level3Data, settings: Level3Settings) -> list[Finding]:
    if data.tax is None or data.tax == 0:
        return [Finding("tax_missing", "warning", "TotalTaxAmount",
                        "no tax on the invoice: Level 2 rates need the tax amount (or the "
                        "customer's exemption)")]  # fmt: skip
    if not data.lines:  # no lines to judge the tax by (``no_lines`` says so)
        return []
    base = data.lines_total - data.discount
    rate = data.tax / base if base > 0 else None
    if data.tax < 0 or rate is None or rate > settings.max_tax_rate:
        shown = "n/a" if rate is None else f"{rate:.2%}"
        return [Finding("tax_implausible", "error", "TotalTaxAmount",
                        f"tax {data.tax:f} is {shown} of the lines; more than "
                        f"{settings.max_tax_rate:.0%} is not plausible")]  # fmt: skip
    return []


class Level3:
    """Reads an invoice's Level 2/3 data, checks it, and sends Level 3 after an approved sale."""

    def __init__(
        self,
        dynamics: DynamicsClient,
        paytrace: PayTraceClient,
        intents: IntentStore,
        ledger: Ledger,
        settings: Level3Settings,
    ) -> None:
        self.dynamics = dynamics
        self.paytrace = paytrace
        self.intents = intents
        self.ledger = ledger
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def preflight(self, document: Document, amount: Decimal) -> Preflight:
        data = await self.read(document)
        findings = tuple(check(data, amount, self.settings))
        blocked = self.settings.on_failure == "block" and any(
            f.severity == "error" for f in findings
        )
        return Preflight(data, findings, blocked)

    async def invoice(self, company: str, number: str) -> Document:
        """The invoice header a capture is for (an order's invoice, not a charge request)."""
        fields = {*HEADER_FIELDS, self.settings.freight_field}
        if self.settings.duty_field:
            fields.add(self.settings.duty_field)
        rows = await self.dynamics.query(INVOICE_HEADERS, Query(
            filter=(F("InvoiceNumber") == number) & (F("dataAreaId") == company),
            select=sorted({"InvoiceNumber", *fields}), cross_company=True,
        ))  # fmt: skip
        row = next((r for r in rows if r.get("InvoiceNumber") == number), None)
        if row is None:
            raise DataError(f"D365 has no invoice {number} in {company}",
                            fields={"invoice": number})  # fmt: skip
        total = _money(row.get("TotalInvoiceAmount")) or Decimal(0)
        return Document("invoice", company, number, "", "", total, total, row)

    async def read(self, document: Document) -> Level3Data:
        row = document.row
        lines = await self.dynamics.query(INVOICE_LINES, Query(
            filter=(F("InvoiceNumber") == document.number) & (F("dataAreaId") == document.company),
            select=_LINE_FIELDS, cross_company=True,
        ))  # fmt: skip
        duty_field = self.settings.duty_field
        return Level3Data(
            invoice=document.number, po_number=str(row.get("CustomersOrderReference") or ""),
            tax=_money(row.get("TotalTaxAmount")),
            freight=_money(row.get(self.settings.freight_field)) or Decimal(0),
            duty=(_money(row.get(duty_field)) if duty_field else None) or Decimal(0),
            discount=_money(row.get("TotalDiscountAmount")) or Decimal(0),
            lines=tuple(_line(r) for r in lines if r.get("InvoiceNumber") == document.number),
        )  # fmt: skip

    def request(self, data: Level3Data, transaction_id: int) -> LevelThreeRequest:
        """The Level 3 body of ``data`` for PayTrace transaction ``transaction_id``."""
        units = self.settings.units
        items = [
            LevelThreeLineItem(
                product_id=line.product_id[:12] or None, description=line.description[:35] or None,
                quantity=line.quantity, unit_of_measure=units.get(line.unit.lower(), line.unit) or None,
                unit_cost=line.unit_cost, amount=line.amount, discount_amount=line.discount or None,
                commodity_code=self.settings.commodity_code,
            )
            for line in data.lines
        ]  # fmt: skip
        return LevelThreeRequest(
            transaction_id=transaction_id, invoice_id=data.invoice[:50],
            customer_reference_id=_alnum(data.po_number)[:17] or None, tax_amount=data.tax,
            freight_amount=data.freight or None, duty_amount=data.duty or None,
            discount_amount=data.discount or None, commodity_code=self.settings.commodity_code,
            line_items=items,
        )  # fmt: skip

    async def send(
        self,
        event_key: str,
        data: Level3Data,
        transaction_id: str,
        paytrace: PayTraceClient | None = None,
    ) -> str:
        """Level 3 for an approved sale, at most once for ``event_key``; what came of it.

        ``paytrace``: the client of the merchant account that made the sale (default: the
        main account's): a raw transaction id means something only in its own account."""
        if not transaction_id.isdigit():
            return "not applicable: not a card transaction"
        intent = self.intents.plan(event_key, LEVEL3_STEP, "paytrace", transaction_id, {})
        mine = self.intents.claim_send(intent) if intent.status == PLANNED else None
        if mine is None:
            return f"already {intent.status}"
        body = self.request(data, int(transaction_id))
        try:
            brand = await self._send_by_brand(body, paytrace or self.paytrace)
        except PayBridgeError as exc:  # the sale stands; the data did not arrive (or may have)
            self.intents.fail(mine, exc.message)
            outcome, brand = f"failed: {exc.message}", None
        else:
            self.intents.complete(mine, {"brand": brand})
            outcome = f"sent ({brand})" if brand else "not applicable: not Visa or Mastercard"
        self.ledger.record(
            event_key, LEVEL3_STEP, system="paytrace", entity="transaction",
            entity_id=transaction_id, status=outcome.split(":")[0].split(" ")[0],
            detail={"outcome": outcome, "line_items": len(body.line_items)},
        )  # fmt: skip
        return outcome

    async def _send_by_brand(self, body: LevelThreeRequest, client: PayTraceClient) -> str | None:
        for brand, send in (("visa", client.level_three_visa),
                            ("mastercard", client.level_three_mastercard)):  # fmt: skip
            try:
                await send(body)
            except DataError as exc:
                if "59" in exc.fields:  # not this brand: try the next
                    continue
                raise
            return brand
        return None


def _alnum(text: str) -> str:
    """The PO as Level 2 takes it (1-17 letters and digits, spec §5.9), as the sale's template."""
    return "".join(ch for ch in text if ch.isalnum())


def _line(row: dict[str, Any]) -> Line:
    return Line(
        number=int(row.get("LineCreationSequenceNumber") or 0),
        product_id=str(row.get("ProductNumber") or ""),
        description=str(row.get("ProductName") or row.get("ProductDescription") or ""),
        quantity=_money(row.get("InvoicedQuantity")), unit=str(row.get("SalesUnitSymbol") or ""),
        unit_cost=_money(row.get("SalesPrice")), amount=_money(row.get("LineAmount")),
        discount=_money(row.get("LineTotalDiscountAmount")),
    )  # fmt: skip
