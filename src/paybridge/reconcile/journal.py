"""The settlement general journal: per PayTrace batch, move its net from card clearing to the bank.

One ``LedgerJournalHeaders`` journal per batch, one ``LedgerJournalLines`` line per card-brand
group: the bank account on the account side, the brand's clearing ledger account as offset, so
every line balances itself (F&O's voucher check) and the journal balances to the cent. Written
exactly once through two intents (header, then all lines in one atomic changeset), found after
an unknown outcome by the header's Description and the lines' PaymentReference (= batch number).

The plan decides the lines as canonical ``JournalLine``s; the ``settlement_to_general_journal_line``
template (compiled at start-up, handed to the writer) turns each into the D365 body, so a field
added to that template reaches D365.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from paybridge.connectors.dynamics import BatchOperation, DynamicsClient, F, Query
from paybridge.keys import SETTLEMENT_HEADER_STEP as HEADER_STEP
from paybridge.keys import SETTLEMENT_LINES_STEP as LINES_STEP
from paybridge.mapping import CompiledTemplate
from paybridge.model import AccountType, JournalKind, JournalLine, Money, Side
from paybridge.reconcile.columns import PayTraceColumns, debit_kind, from_minor
from paybridge.reconcile.settings import CompanyReconcileSettings
from paybridge.reconcile.vectors import series
from paybridge.runtime.intents import IntentStore, Resolution
from paybridge.runtime.ledger import Ledger

HEADERS = "LedgerJournalHeaders"
LINES = "LedgerJournalLines"
LINE_TEMPLATE = "settlement_to_general_journal_line"

_MASK = frozenset("xX*•#")


def card_brand(masked: str) -> str:
    """The brand from the BIN a masked number shows (``401200******5439``); else ``other``."""
    digits = ""
    for ch in masked.strip():
        if ch in _MASK or not ch.isdigit():
            break
        digits += ch
    if len(digits) < 2 or len(digits) >= len(masked.strip()):
        return "other"  # no BIN visible (or not a masked number at all)
    two, four = int(digits[:2]), int(digits[:4]) if len(digits) >= 4 else -1
    if digits[0] == "4":
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649:
        return "discover"
    if 3528 <= four <= 3589:
        return "jcb"
    if two in (36, 38) or 300 <= int(digits[:3]) <= 305:
        return "diners"
    return "other"


@dataclass(frozen=True)
class SettlementLine:
    """One brand group: ``net`` enters ``bank_account`` from ``clearing_account`` (negative: out)."""

    brands: tuple[str, ...]
    bank_account: str
    clearing_account: str
    net: Decimal


@dataclass(frozen=True)
class SettlementPlan:
    company: str
    batch: int
    day: date
    currency: str
    description: str
    journal_name: str
    lines: tuple[SettlementLine, ...]

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))

    @property
    def key(self) -> str:
        return f"settlement:{self.company}:{self.batch}"

    def journal_lines(self, journal: str) -> list[JournalLine]:
        """The lines to book, as canonical journal lines; zero lines are left out (nothing to move)."""
        return [
            JournalLine(
                kind=JournalKind.GENERAL,
                company=self.company,
                transaction_date=self.day,
                account_type=AccountType.BANK,
                account=line.bank_account,
                offset_account_type=AccountType.LEDGER,
                offset_account=line.clearing_account,
                side=Side.DEBIT if line.net > 0 else Side.CREDIT,
                amount=Money(amount=abs(line.net), currency=self.currency),
                text=f"PayTrace batch {self.batch} {'/'.join(line.brands)}",
                payment_reference=str(self.batch),
                journal_batch_number=journal,
            )
            for line in self.lines
            if line.net != 0
        ]

    def bodies(self, journal: str, template: CompiledTemplate) -> list[dict[str, Any]]:
        """The LedgerJournalLines bodies, each line through ``template``; a ``DataError`` with the
        per-field reasons when it cannot map one (then nothing of the journal is written)."""
        bodies: list[dict[str, Any]] = []
        for number, line in enumerate(self.journal_lines(journal), start=1):
            result = template.apply(line.model_dump(mode="json"), context={"line_number": number})
            result.raise_for_errors()
            bodies.append(result.record)
        return bodies


def brand_nets(pt: PayTraceColumns) -> dict[int, dict[str, int]]:
    """Per batch, per brand: sales minus refunds in minor units."""
    signed = (
        pl.when(debit_kind(series(pt.kind))).then(-series(pt.minor)).otherwise(series(pt.minor))
    )
    nets = (
        pl.DataFrame({"batch": series(pt.batch), "brand": series(pt.brand)})
        .with_columns(net=signed)
        .group_by("batch", "brand", maintain_order=True)
        .agg(pl.col("net").sum())
    )
    out: dict[int, dict[str, int]] = {}
    for batch, brand, net in nets.iter_rows():
        out.setdefault(batch, {})[pt.codes.text(brand)] = net
    return out


def plan_settlement(
    company: str,
    accounts: CompanyReconcileSettings,
    batch: int,
    day: date,
    currency: str,
    nets: Mapping[str, int],
    description_format: str,
) -> SettlementPlan:
    """Group brands that share (bank, clearing) accounts into one line each."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for brand in sorted(nets):
        grouped[accounts.accounts(brand)].append(brand)
    lines = tuple(
        SettlementLine(
            tuple(brands),
            bank,
            clearing,
            from_minor(sum(nets[b] for b in brands), currency),
        )
        for (bank, clearing), brands in grouped.items()
    )
    return SettlementPlan(
        company=company,
        batch=batch,
        day=day,
        currency=currency,
        description=description_format.format(batch=batch),
        journal_name=accounts.journal_name,
        lines=lines,
    )


def imbalance(bodies: Sequence[Mapping[str, Any]]) -> Decimal:
    """Debits minus credits of the journal, offset sides included: zero when it balances."""
    total = Decimal(0)
    for body in bodies:
        amount = Decimal(body.get("DebitAmount") or 0) - Decimal(body.get("CreditAmount") or 0)
        total += amount
        if body.get("OffsetAccountDisplayValue"):
            total -= amount  # the offset account takes the other side of the same amount
    return total


@dataclass(frozen=True)
class JournalOutcome:
    batch: int
    journal: str
    net: Decimal
    currency: str
    lines: int
    how: str  # "sent" | "found" | "already" | "nothing to move"


class SettlementJournalWriter:
    """Writes one plan exactly once; a rerun (or a crash and rerun) never makes a second journal."""

    def __init__(
        self,
        dynamics: DynamicsClient,
        intents: IntentStore,
        ledger: Ledger,
        template: CompiledTemplate,
    ) -> None:
        self.d365 = dynamics
        self.intents = intents
        self.ledger = ledger
        self.template = template

    async def write(self, plan: SettlementPlan) -> JournalOutcome:
        if not any(line.net != 0 for line in plan.lines):
            return JournalOutcome(plan.batch, "", plan.net, plan.currency, 0, "nothing to move")
        header = await self._header(plan)
        journal = str(header.detail["JournalBatchNumber"])
        lines = await self._lines(plan, journal)
        how = "already" if header.how == lines.how == "already" else lines.how
        if how != "already":
            self.ledger.record(
                plan.key, HEADER_STEP, system="d365", entity=HEADERS,
                entity_id=f"{plan.company}/{journal}", status="posted",
                template_version=self.template.ref,
                detail={"how": how, "net": str(plan.net), "currency": plan.currency},
            )  # fmt: skip
        count = int(lines.detail.get("lines", 0))
        return JournalOutcome(plan.batch, journal, plan.net, plan.currency, count, how)

    async def _header(self, plan: SettlementPlan) -> Resolution:
        intent = self.intents.plan(
            plan.key, HEADER_STEP, "d365", plan.description, {"company": plan.company}
        )

        async def send() -> dict[str, Any]:
            body = {
                "dataAreaId": plan.company,
                "JournalName": plan.journal_name,
                "Description": plan.description,
            }
            created = await self.d365.create(HEADERS, body, reference=plan.description)
            return {"JournalBatchNumber": created["JournalBatchNumber"]}

        async def find() -> dict[str, Any] | None:
            rows = await self.d365.find_by_reference(
                HEADERS, "Description", plan.description, company=plan.company
            )
            return {"JournalBatchNumber": rows[0]["JournalBatchNumber"]} if rows else None

        return await self.intents.execute_once(intent, send, find)

    async def _lines(self, plan: SettlementPlan, journal: str) -> Resolution:
        bodies = plan.bodies(journal, self.template)
        intent = self.intents.plan(
            plan.key, LINES_STEP, "d365", str(plan.batch), {"journal": journal, "bodies": bodies}
        )
        planned: list[dict[str, Any]] = intent.detail["bodies"]  # the first plan wins

        async def send() -> dict[str, Any]:
            operations = [
                BatchOperation("POST", LINES, body=body, reference=str(plan.batch))
                for body in planned
            ]
            (result,) = await self.d365.batch([operations])
            result.raise_for_error()
            return {"lines": len(planned)}

        async def find() -> dict[str, Any] | None:
            condition = (
                (F("JournalBatchNumber") == intent.detail["journal"])
                & (F("PaymentReference") == str(plan.batch))
                & (F("dataAreaId") == plan.company)
            )
            rows = await self.d365.query(LINES, Query(filter=condition, cross_company=True))
            return {"lines": len(rows)} if rows else None

        return await self.intents.execute_once(intent, send, find)
