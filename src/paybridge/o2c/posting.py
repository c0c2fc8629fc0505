"""Route canonical payment events to D365: journal lines, order status and customers, exactly once, in $batch."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from paybridge.connectors.dynamics import DynamicsClient, Expr, F, Query, unescape_display_value
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace.accounts import PayTraceAccounts
from paybridge.connectors.paytrace.codes import decline_reason
from paybridge.connectors.paytrace.responses import TransactionRecord
from paybridge.errors import DataError, PayBridgeError
from paybridge.keys import (
    CAPTURE_INVOICE_XREF,
    CUSTOMER_XREF,
    LINE_STEP,
    ORDER_AUTH_XREF,
    account_transaction,
    paytrace_fact,
)
from paybridge.keys import LINE_DELETE_STEP as DELETE_STEP
from paybridge.mapping import CompiledTemplate
from paybridge.model import Money, PaymentMethodType, Transaction, TransactionKind
from paybridge.o2c.checks import PaymentReversal
from paybridge.o2c.journals import (
    HEADERS,
    LINES,
    MARKING,
    JournalBook,
    LineJob,
    LineWriter,
    batch_reads,
    delete_line,
)
from paybridge.o2c.order_status import (
    Documents,
    OrderStatusWriter,
    OrderUpdate,
    look_up_documents,
)
from paybridge.o2c.screening import PASSED, PaymentScreen, Screened, Verdict
from paybridge.o2c.settings import OrderToCashSettings
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.intents import DONE, PLANNED, Intent, IntentStore
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.tracing import NO_TRACING, Tracer
from paybridge.runtime.worker import outcome_for

log = logging.getLogger(__name__)

__all__ = [
    "CUSTOMER_XREF", "HEADERS", "LINES", "LINE_STEP", "PAYMENT_TEMPLATE", "PaymentPoster",
    "payment_id", "replay_context",
]  # fmt: skip

PAYMENT_TEMPLATE = "payment_to_customer_payment_line"

CREDIT_KINDS = {TransactionKind.SALE, TransactionKind.CAPTURE}
DEBIT_KINDS = {TransactionKind.REFUND, TransactionKind.VOID, TransactionKind.RETURN}
# Kinds that reverse what D365 holds of their transaction (an ACH return is a void after the fact).
REVERSING_KINDS = (TransactionKind.VOID, TransactionKind.RETURN)
ORDER_KINDS = {
    TransactionKind.SALE, TransactionKind.CAPTURE, TransactionKind.AUTHORIZATION,
    TransactionKind.REFUND, TransactionKind.VOID, TransactionKind.DECLINE,
}  # fmt: skip
_SEVERITY = {"done": 0, "retry": 1, "dead": 2}


def payment_id(tx: Transaction) -> str:
    """The exactly-once anchor kept by D365 on the line: one per PayTrace transaction state."""
    return f"PT-{tx.transaction_id}-{tx.kind.value}"


class CustomerSource(Protocol):
    """Creates the D365 customer of a PayTrace profile (``customer_sync.CustomerCreator``)."""

    async def ensure(self, profile_id: str) -> tuple[str, str]: ...


class DeclineDetail(Protocol):
    """Reads a declined transaction back for its processor words (``PayTraceClient``)."""

    async def export_by_id(self, transaction_id: int) -> TransactionRecord | None: ...


@dataclass(frozen=True)
class OrderLinks:
    """A batch's transactions (refs) looked up in the orders capability's cross-references:
    those it authorized, and the invoice each capture was for."""

    looked_up: set[str]
    authorizations: dict[str, str]
    captures: dict[str, str]


@dataclass
class Routed:
    """One event on its way: what it needs in D365 and what each step answered."""

    env: Envelope
    tx: Transaction
    line: bool = False
    order: bool = False
    reverse_of: str | None = None  # entity id (company/journal/line) of the line a void removes
    held: bool = False  # needs the transaction's lines as D365 holds them (voids, settlements)
    signed: Decimal | None = None  # the line's amount by D365's lines: > 0 credit, < 0 debit
    reversible: list[dict[str, Any]] = field(default_factory=list)  # an ACH return's credits
    company: str | None = None
    account: str | None = None
    reason: str = ""
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def reference(self) -> str | None:
        return self.tx.order_id or self.tx.invoice_id

    def outcome(self) -> Outcome:
        if not self.outcomes:
            return Outcome.done("nothing to do")
        return max(self.outcomes, key=lambda o: _SEVERITY.get(o.status, 1))


class PaymentPoster:
    """Handler of the ``payment`` topic: a batch of events in, one outcome per event out."""

    def __init__(
        self,
        dynamics: DynamicsClient,
        intents: IntentStore,
        ledger: Ledger,
        xref: Xref,
        cursors: Cursors,
        settings: DynamicsSettings,
        template: CompiledTemplate,
        *,
        o2c: OrderToCashSettings | None = None,
        order_template: CompiledTemplate | None = None,
        customers: CustomerSource | None = None,
        paytrace: DeclineDetail | None = None,
        tracer: Tracer = NO_TRACING,
        ach_payment_method: str = "",
        reversal: PaymentReversal | None = None,
        screen: PaymentScreen | None = None,
        accounts: PayTraceAccounts | None = None,
        account_customers: Mapping[str, CustomerSource] | None = None,
    ) -> None:
        self.template = template
        # The other merchant accounts' customer creators (``o2c.missing_customer: create``).
        self.account_customers = dict(account_customers or {})
        # With several merchant accounts each account's payments stay in its own company.
        self.accounts = accounts
        self.ach_payment_method = ach_payment_method
        self.reversal = reversal
        self.screen = screen
        self.d365 = dynamics
        self.intents = intents
        self.ledger = ledger
        self.xref = xref
        self.cursors = cursors
        self.settings = settings
        self.o2c = o2c or OrderToCashSettings()
        self.customers = customers
        self.paytrace = paytrace
        self.book = JournalBook(dynamics, intents, cursors, settings)
        self.lines = LineWriter(dynamics, intents, ledger, self.book, tracer)
        self.orders = OrderStatusWriter(
            dynamics, intents, ledger, order_template, self.o2c, cursors
        )
        self.bulk = intents

    async def __call__(self, envs: Sequence[Envelope]) -> list[Outcome]:
        voided = self._voided_in(envs)  # per call: worker loops share this poster
        links = self._order_links(envs)
        routed: list[Routed | Outcome] = [await self._route(env, voided, links) for env in envs]
        routed = await self._screened(routed)
        work = [r for r in routed if isinstance(r, Routed)]
        await self._find_customers(work)
        await self._held_lines([r for r in work if r.held and not r.outcomes])
        await self._reverse_posted([r for r in work if r.reversible and not r.outcomes])
        docs = await self._documents(work)
        await self._post_lines([r for r in work if r.line and not r.outcomes], docs)
        await self._remove_lines([r for r in work if r.reverse_of and not r.outcomes])
        await self._update_orders([r for r in work if r.order], docs)
        return [r.outcome() if isinstance(r, Routed) else r for r in routed]

    async def _screened(self, routed: list[Routed | Outcome]) -> list[Routed | Outcome]:
        """Every transaction through the screen (when there is one): a held one waits, a
        withheld one ends unposted; declines and skipped facts are screened but never wait."""
        if self.screen is None:
            return routed
        work = [r for r in routed if isinstance(r, Routed)]
        verdicts = iter(await self.screen.screen([r.tx for r in work]))
        out: list[Routed | Outcome] = []
        for r in routed:
            seen = next(verdicts) if isinstance(r, Routed) else PASSED
            out.append(self._apply_verdict(r, seen) if isinstance(r, Routed) else r)
        return out

    def _apply_verdict(self, r: Routed, seen: Screened) -> Routed | Outcome:
        if r.outcomes or seen.verdict is Verdict.PASS:
            return r
        if seen.verdict is Verdict.HOLD:
            return Outcome.wait(f"held for review: {seen.reason}", seen.recheck_seconds)
        self._note(r.tx, "withheld", seen.reason)
        return Outcome.done(f"withheld: {seen.reason}")

    # -- route -----------------------------------------------------------------------------

    async def _route(
        self, env: Envelope, voided: tuple[set[str], set[str]], links: OrderLinks
    ) -> Routed | Outcome:
        try:
            tx = Transaction.model_validate(env.payload)
        except ValidationError as exc:
            return Outcome.dead(f"not a payment event: {exc.errors()[0]['msg']}")
        cut_over = self.o2c.cut_over
        if cut_over is not None and tx.occurred_at < cut_over:
            self._note(tx, "skipped", f"before the cut-over ({cut_over.isoformat()})")
            return Outcome.done("before the cut-over")
        tx, owned = self._order_owned(tx, links)
        r = Routed(env, tx, order=tx.kind in ORDER_KINDS and bool(tx.order_id or tx.invoice_id))
        r.order = r.order and not owned
        if tx.kind is TransactionKind.DECLINE:
            r.reason = await self._decline_reason(tx)
            self._note(
                tx, "declined", f"{r.reason} No money moved; the reason is kept for the order."
            )
            r.outcomes.append(Outcome.done("declined"))
        elif tx.kind in REVERSING_KINDS:
            r.held = True  # what it reverses is decided by what D365 holds (``_reversals``)
        elif tx.kind is TransactionKind.SETTLEMENT:
            r.held = True  # an adjusted amount shows at settlement (``_adjustments``)
        elif tx.kind in CREDIT_KINDS | DEBIT_KINDS:
            if self._voided_first(tx, voided):
                why = "voided in PayTrace before its line was posted: nothing to credit or debit"
                self._note(tx, "skipped", why)
                r.outcomes.append(Outcome.done("voided before posting"))
            else:
                r.line = True
        else:
            self._note(tx, "skipped", f"{tx.kind.value} moves no money in the payment journal")
            r.outcomes.append(Outcome.done(f"{tx.kind.value}: nothing to post"))
        return r

    def _order_links(self, envs: Sequence[Envelope]) -> OrderLinks:
        """The orders capability's cross-references of a batch's transactions: one store query
        per kind for the batch instead of one per payment."""
        refs = sorted({
            account_transaction(str(env.payload.get("transaction_id", "")),
                                str(env.payload.get("account") or ""))
            for env in envs if env.payload.get("transaction_id")
        })  # fmt: skip
        return OrderLinks(
            set(refs), self.xref.get_many(ORDER_AUTH_XREF, refs),
            self.xref.get_many(CAPTURE_INVOICE_XREF, refs),
        )  # fmt: skip

    def _order_owned(self, tx: Transaction, links: OrderLinks) -> tuple[Transaction, bool]:
        """A transaction of an order the orders capability authorized: its capture's line marks
        the invoice it was captured for (linked before the capture was sent), and the order's
        status is that capability's to write, not this fact's."""
        if tx.kind not in ORDER_KINDS:
            return tx, False
        if tx.ref in links.looked_up:
            owned, linked = tx.ref in links.authorizations, links.captures.get(tx.ref)
        else:  # not named as the batch's payloads name it: looked up on its own
            owned = self.xref.get(ORDER_AUTH_XREF, tx.ref) is not None
            capture = tx.kind is TransactionKind.CAPTURE
            linked = self.xref.get(CAPTURE_INVOICE_XREF, tx.ref) if capture else None
        if tx.kind is TransactionKind.CAPTURE and linked is not None:
            invoice = linked.split("/", 1)[1]
            tx = tx.model_copy(update={"invoice_id": invoice, "order_id": None})
        return tx, owned

    async def _decline_reason(self, tx: Transaction) -> str:
        code = tx.response_code or 102
        source = self.paytrace
        if self.accounts is not None and tx.account:
            source = self.accounts.named(tx.account).client  # the raw id, the account's client
        if source is None or not tx.transaction_id.isdigit():
            return decline_reason(code)
        try:
            record = await source.export_by_id(int(tx.transaction_id))
        except PayBridgeError as exc:
            log.info("decline %s: no processor words (%s)", tx.transaction_id, exc)
            return decline_reason(code)
        return decline_reason(code, record.approval_message if record else "")

    def _voided_in(self, envs: Sequence[Envelope]) -> tuple[set[str], set[str]]:
        """The void (and ACH return) keys of a batch's transactions (looked up) and those noted
        reversed first: one store query for the batch instead of one per payment."""
        ids = {
            (str(env.payload.get("transaction_id", "")), str(env.payload.get("account") or ""))
            for env in envs
        }
        keys = sorted(
            paytrace_fact(i, kind, account) for i, account in ids if i for kind in REVERSING_KINDS
        )
        return set(keys), self.ledger.keys_with(keys, "route", VOIDED_FIRST)

    def _voided_first(self, tx: Transaction, voided: tuple[set[str], set[str]]) -> bool:
        """A void (or ACH return) of this transaction came while D365 held none of its lines
        (its sale waited in the dead letters, say): the sale, replayed later, must not be
        credited."""
        looked_up, noted = voided
        keys = [paytrace_fact(tx.transaction_id, kind, tx.account) for kind in REVERSING_KINDS]
        if all(key in looked_up for key in keys):
            return any(key in noted for key in keys)
        return any(
            e.step == "route" and e.status == VOIDED_FIRST
            for key in keys
            for e in self.ledger.entries(key)
        )

    def _note(self, tx: Transaction, status: str, why: str) -> None:
        self.ledger.record(
            tx.key, "route", system="paybridge", entity="event", entity_id=tx.key,
            status=status, detail={"why": why},
        )  # fmt: skip

    # -- enrich ----------------------------------------------------------------------------

    async def _find_customers(self, work: Sequence[Routed]) -> None:
        """Lines need the D365 customer; order-only facts use it when known (else the company),
        and so do voids and settlements, whose lines D365 holds with their account already."""
        known: dict[str, tuple[str, str] | PayBridgeError] = {}
        for r in work:
            if not (r.line or r.held or r.order):
                continue
            account = r.tx.customer_account
            profile = f"d365:{account}" if account else r.tx.customer_id or ""
            profile = f"{r.tx.account}|{profile}"  # profiles are per merchant account
            if profile not in known:
                known[profile] = await self._customer_or_error(r.tx, create=r.line)
            found = known[profile]
            if isinstance(found, tuple):
                r.company, r.account = found
            elif r.line:
                r.outcomes.append(outcome_for(found))
            else:
                r.company = self._home(r.tx) or self.settings.company

    def _home(self, tx: Transaction) -> str | None:
        """The company a transaction's payments must stay in: its merchant account's when there
        are several accounts; None (any company, as linked) with one."""
        if self.accounts is None or not self.accounts.several:
            return None
        return self.accounts.named(tx.account).company

    async def _customer_or_error(
        self, tx: Transaction, *, create: bool
    ) -> tuple[str, str] | PayBridgeError:
        try:
            return await self._customer(tx, create=create)
        except PayBridgeError as exc:
            return exc

    async def _customer(self, tx: Transaction, *, create: bool) -> tuple[str, str]:
        home = self._home(tx)
        if tx.customer_account and "/" in tx.customer_account:
            company, _, account = tx.customer_account.partition("/")
            if home is None or company.lower() == home.lower():
                return company, account
            raise DataError(
                f"PayTrace transaction {tx.ref} of merchant account "
                f"{tx.account or 'default'} names customer {tx.customer_account}, of another "
                f"company than the account's ({home}): never credited there",
                fields={"customer_account": tx.customer_account},
            )
        if not tx.customer_id:
            raise DataError(
                f"PayTrace transaction {tx.ref} names no customer, so it has no D365 account",
                fields={"customer_id": "missing"},
            )
        # A profile of another merchant account is linked by ``<account>/<profile>``; its bare
        # id is read too (tolerant), but only a link into the account's own company counts.
        profile = account_transaction(tx.customer_id, tx.account)
        linked = self.xref.get(CUSTOMER_XREF, profile)
        if linked is None and profile != tx.customer_id:
            linked = self.xref.get(CUSTOMER_XREF, tx.customer_id)
        if linked:
            company, _, account = linked.partition("/")
            if home is None or company.lower() == home.lower():
                return company, account
            log.info("%s: customer %s is linked to %s, not to the account's company %s",
                     tx.key, tx.customer_id, linked, home)  # fmt: skip
        if self.settings.customer_match == "xref_or_same_id":
            company = home or self.settings.company
            found = await self.d365.get(
                "CustomersV3",
                {"dataAreaId": company, "CustomerAccount": tx.customer_id},
                select=["CustomerAccount"],
                cross_company=True,
            )
            if found is not None:
                self.xref.link(CUSTOMER_XREF, profile, f"{company}/{tx.customer_id}")
                return company, tx.customer_id
        source = self.account_customers.get(tx.account) if tx.account else self.customers
        if create and self.o2c.missing_customer == "create" and source is not None:
            # Created from the account's own profile, in the account's company.
            return await source.ensure(tx.customer_id)
        where = f" in {home}" if home else ""
        raise DataError(
            f"no D365 customer{where} for PayTrace customer {tx.customer_id!r} of merchant "
            f"account {tx.account or 'default'}; link one with "
            f"`paybridge xref link {profile} {home or '<company>'}/<account>`",
            fields={"customer_id": tx.customer_id},
        )

    async def _documents(self, work: Sequence[Routed]) -> dict[tuple[str, str], Documents]:
        wanted = {
            (r.company, r.reference)
            for r in work
            if r.company
            and r.reference
            and not any(o.status == "dead" for o in r.outcomes)
            and (r.line or r.order)
        }
        if not wanted:
            return {}
        try:
            answers = await look_up_documents(self.d365, sorted(wanted))
        except PayBridgeError as exc:  # only a ConfigError: nothing can be read at all
            answers = dict.fromkeys(wanted, exc)
        docs: dict[tuple[str, str], Documents] = {}
        for key, answer in answers.items():
            if isinstance(answer, Documents):
                docs[key] = answer
        for r in work:  # a failed read holds up the facts of its own document only
            failed = answers.get((str(r.company), str(r.reference)))
            if isinstance(failed, PayBridgeError):
                r.outcomes.append(outcome_for(failed))
        return docs

    # -- what D365 holds of a transaction: voids and adjusts ---------------------------------

    async def _held_lines(self, todo: Sequence[Routed]) -> None:
        """Read each transaction's lines from D365 (one ``$batch``) and decide from them."""
        if not todo:
            return
        reads = [
            (LINES, Query(
                filter=(
                    (F("dataAreaId") == str(self._home(r.tx) or r.company))
                    & _any_payment_id(r.tx.transaction_id)
                    if r.account or self._home(r.tx)
                    else _any_payment_id(r.tx.transaction_id)
                ),
                select=["PaymentId", "dataAreaId", "JournalBatchNumber", "LineNumber",
                        "AccountDisplayValue", "CreditAmount", "DebitAmount", "CurrencyCode"],
                cross_company=True,
            ))
            for r in todo
        ]  # fmt: skip
        try:
            answers = await batch_reads(self.d365, reads)
        except PayBridgeError as exc:  # a ConfigError: nothing can be read
            answers = [exc] * len(todo)
        others: list[tuple[str, dict[str, Any]]] = []  # the transaction's other states' lines
        for r, answer in zip(todo, answers, strict=True):
            if isinstance(answer, PayBridgeError):
                r.outcomes.append(outcome_for(answer))
                continue
            ids = {payment_id(r.tx.model_copy(update={"kind": k})): k for k in HELD_KINDS}
            lines = {str(row["PaymentId"]): row for row in answer if row.get("PaymentId") in ids}
            others += [
                (paytrace_fact(r.tx.transaction_id, ids[pid].value, r.tx.account), row)
                for pid, row in lines.items() if ids[pid] is not r.tx.kind
            ]  # fmt: skip
            if lines:  # the line's account and company are D365's, whatever the store knows
                first = next(iter(lines.values()))
                r.company = str(first["dataAreaId"])
                r.account = unescape_display_value(str(first.get("AccountDisplayValue", "")))
            if r.tx.kind in REVERSING_KINDS:
                self._reversal(r, lines)
            else:
                self._adjustment(r, lines)
        if others and self.lines.adopt(others):
            log.info("lines D365 holds and the store had no record of: recorded as found")

    def _reversal(self, r: Routed, lines: dict[str, dict[str, Any]]) -> None:
        """A void (or an ACH return) undoes whatever D365 holds for the transaction (sale,
        capture, refund, adjust)."""
        reversing = tuple(f"-{kind.value}" for kind in REVERSING_KINDS)
        undone = {k: v for k, v in lines.items() if not k.endswith(reversing)}
        own = [v for k, v in lines.items() if k.endswith(f"-{r.tx.kind.value}")]
        if not undone:
            if own:  # only its own line: reversed already (a store that forgot it)
                r.line, r.signed = True, _signed(own, negate=False)
                return
            what = r.tx.kind.value
            self._note(r.tx, VOIDED_FIRST, f"{what} of a transaction D365 holds no line of (yet)")
            r.outcomes.append(Outcome.done("nothing to reverse"))
            return
        net = _signed(undone.values(), negate=False)
        if net == 0:
            self._note(r.tx, "skipped", "the transaction's lines in D365 already net to zero")
            r.outcomes.append(Outcome.done("nothing to reverse"))
        elif self.o2c.void_unposted == "delete" and len(undone) == 1:
            (row,) = undone.values()
            r.reverse_of = f"{row['dataAreaId']}/{row['JournalBatchNumber']}/{row['LineNumber']}"
            r.signed = -net
        else:
            r.line, r.signed = True, -net
            credits = [row for row in undone.values() if Decimal(str(row.get("CreditAmount") or 0))]
            if (
                r.tx.kind is TransactionKind.RETURN
                and self.reversal
                and len(credits) == len(undone)
            ):
                r.reversible = credits  # posted: reversed in D365 instead (``_reverse_posted``)

    async def _reverse_posted(self, todo: Sequence[Routed]) -> None:
        """An ACH return of payments D365 has posted: "Reverse transaction" (the invoice is
        open again) instead of a debit line; an unposted one keeps its reversing line."""
        assert self.reversal is not None or not todo
        for r in todo:
            assert self.reversal is not None
            company = str(r.company)
            try:
                if not await self.reversal.posted(
                    company, {str(row["JournalBatchNumber"]) for row in r.reversible}
                ):
                    continue
                said = [
                    await self.reversal.reverse(r.tx.key, company, str(row["PaymentId"]),
                                                r.tx.description)
                    for row in r.reversible
                ]  # fmt: skip
            except PayBridgeError as exc:
                r.outcomes.append(outcome_for(exc))
                continue
            r.line = False
            self._note(r.tx, "reversed", "; ".join(said))
            r.outcomes.append(Outcome.done("; ".join(said)))

    def _adjustment(self, r: Routed, lines: dict[str, dict[str, Any]]) -> None:
        """Settled for another amount than D365 holds (a PayTrace adjust): one line for the gap."""
        if not lines and self.o2c.cut_over is None:
            # Its sale is still on its way (retrying, or in the dead letters until replayed):
            # the gap can only be measured against it, so the settlement waits for it.
            why = "settled, but D365 holds no line of the transaction yet: waiting for it"
            r.outcomes.append(Outcome.retry(why))  # on the topic's back-off, then a dead letter
            return
        kinds = {k.rsplit("-", 1)[-1] for k in lines}
        credited = kinds & {TransactionKind.SALE.value, TransactionKind.CAPTURE.value}
        if not credited or kinds & {kind.value for kind in REVERSING_KINDS}:
            self._note(r.tx, "skipped", "settlement: no credited line in D365 to compare with")
            r.outcomes.append(Outcome.done("settlement: nothing to compare"))
            return
        net = _signed(lines.values(), negate=False)
        gap = r.tx.amount.amount - net
        if gap == 0:
            r.outcomes.append(Outcome.done("settled as posted"))
            return
        r.tx = r.tx.model_copy(
            update={"kind": TransactionKind.ADJUST, "amount": Money(amount=abs(gap),
                                                                    currency=r.tx.amount.currency)}
        )  # fmt: skip
        r.line, r.signed = True, gap

    # -- lines -----------------------------------------------------------------------------

    def _day(self, tx: Transaction) -> date:
        return tx.occurred_at.astimezone(ZoneInfo(self.settings.timezone)).date()

    async def _post_lines(
        self, todo: Sequence[Routed], docs: dict[tuple[str, str], Documents]
    ) -> None:
        if not todo:
            return
        # Lines are keyed by the fact, not the message: a heal, a replay and the original
        # delivery of one PayTrace transaction state share one intent and one PaymentId.
        existing = self.bulk.get_many(LINE_STEP, [r.tx.key for r in todo])
        fresh = [r for r in todo if r.tx.key not in existing]
        planned = self.bulk.plan_many(LINE_STEP, "d365", await self._bodies(fresh, docs))
        existing.update(await self._heal_done(todo, existing, docs))
        intents = {**existing, **planned}
        ready = [r for r in todo if r.tx.key in intents]
        jobs = [LineJob(r.tx.key, intents[r.tx.key], self.template.ref) for r in ready]
        for r, outcome in zip(ready, await self.lines.write(jobs), strict=True):
            r.outcomes.append(outcome)

    async def _heal_done(
        self,
        todo: Sequence[Routed],
        existing: dict[str, Intent],
        docs: dict[tuple[str, str], Documents],
    ) -> dict[str, Intent]:
        """A heal of a line once written and since removed from D365 (by a person): planned
        afresh (a new journal line), since D365, not the store, says what is there now."""
        done = [
            r for r in todo
            if r.env.payload.get("heal") and existing.get(r.tx.key) is not None
            and existing[r.tx.key].status == DONE
        ]  # fmt: skip
        if not done:
            return {}
        jobs = [LineJob(r.tx.key, existing[r.tx.key], self.template.ref) for r in done]
        held = await self.lines.look_up(jobs)
        gone = [r for r, job in zip(done, jobs, strict=True) if held.get(job.anchor) is None]
        replanned: dict[str, Intent] = {}
        for key, _, detail in await self._bodies(gone, docs):
            (changed,) = self.bulk.set_many([(existing[key], PLANNED, detail)])
            if changed:
                replanned[key] = replace(existing[key], status=PLANNED, detail={
                    **existing[key].detail, **detail})  # fmt: skip
        return replanned

    async def _bodies(
        self, fresh: Sequence[Routed], docs: dict[tuple[str, str], Documents]
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Journal, line number and body for each new line (fact key, PaymentId, detail)."""
        groups: dict[tuple[str, date], list[Routed]] = {}
        for r in fresh:
            if not r.outcomes:
                groups.setdefault((str(r.company), self._day(r.tx)), []).append(r)
        reserved: dict[tuple[str, str], Decimal] = {}
        items: list[tuple[str, str, dict[str, Any]]] = []
        for (company, day), rows in groups.items():
            try:  # a journal that cannot be had holds up its own company and day only
                journal = await self.book.journal(company, day)
                numbers = await self.book.numbers(company, journal, len(rows))
            except PayBridgeError as exc:
                for r in rows:
                    r.outcomes.append(outcome_for(exc))
                continue
            for r, number in zip(rows, numbers, strict=True):
                invoice, order = self._marking(r, docs, reserved)
                try:
                    body = self._line_body(
                        r.tx, company, str(r.account), journal, number, invoice, order, r.signed
                    )
                except DataError as exc:
                    r.outcomes.append(outcome_for(exc))
                    continue
                detail = {
                    "body": body,
                    "company": company,
                    "day": day.isoformat(),
                    "order_id": order,
                }
                items.append((r.tx.key, payment_id(r.tx), detail))
        return items

    def _marking(
        self,
        r: Routed,
        docs: dict[tuple[str, str], Documents],
        reserved: dict[tuple[str, str], Decimal],
    ) -> tuple[str | None, str | None]:
        """(invoice to mark, order to prepay): an open invoice of this customer wins over an order."""
        ref = r.reference
        doc = docs.get((str(r.company), ref)) if ref else None
        if doc is None or ref is None or r.tx.kind not in CREDIT_KINDS:
            return None, None
        amount = r.tx.amount.amount
        already = reserved.get((str(r.company), ref), Decimal(0))
        if self.settings.mark_invoices and doc.open_invoice_for(str(r.account), amount + already):
            reserved[(str(r.company), ref)] = already + amount
            return ref, None
        if self.o2c.prepay_orders and doc.invoice_account is None and doc.order_for(r.account):
            return None, doc.order_for(r.account)
        return None, None

    def _line_body(
        self, tx: Transaction, company: str, account: str, journal: str, number: int,
        invoice: str | None, order: str | None, signed: Decimal | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Translate through the versioned template; only an open invoice of this customer is marked."""
        source = line_source(tx.model_dump(mode="json"), invoice, order)
        result = self.template.apply(
            source,
            context={
                "company": company,
                "journal_batch_number": journal,
                "customer_account": account,
                "bank_account": self._bank_account(company),
                "payment_method_name": self._method(tx) or None,
                "line_number": number,
                "time_zone": self.settings.timezone,
            },
        )
        if not result.ok:
            raise DataError(
                f"template {self.template.ref} cannot map {tx.key}", fields=dict(result.errors)
            )
        body = dict(result.record)
        if signed is not None:  # the side and amount follow the lines D365 holds
            body.pop("CreditAmount", None)
            body.pop("DebitAmount", None)
            body["CreditAmount" if signed > 0 else "DebitAmount"] = abs(signed)
            if signed < 0:
                body = {k: v for k, v in body.items() if k not in MARKING}
        return body

    def _bank_account(self, company: str) -> str:
        """The offset bank account of ``company``'s lines: its merchant account's when there
        are several (each company banks its own money), else ``dynamics.bank_account``."""
        if self.accounts is not None and self.accounts.several:
            for account in self.accounts:
                if account.company.lower() == company.lower():
                    return account.bank_account
        return self.settings.bank_account

    def _method(self, tx: Transaction) -> str:
        """D365's method of payment: ``checks.payment_method`` for ACH, else the card one."""
        if tx.payment_method_type is PaymentMethodType.ACH and self.ach_payment_method:
            return self.ach_payment_method
        return self.settings.payment_method

    async def _remove_lines(self, todo: Sequence[Routed]) -> None:
        """A void while the sale's journal is still open: the sale's line goes (or is reversed)."""
        for r in todo:
            assert r.reverse_of is not None
            company, journal, _ = r.reverse_of.split("/")
            try:
                if await self.book.is_posted(company, journal):
                    r.line, r.reverse_of = True, None
                    continue
                how = await delete_line(self.d365, self.intents, r.tx.key, company, r.reverse_of)
            except DataError as exc:
                if "has been posted" not in str(exc):
                    r.outcomes.append(outcome_for(exc))
                    continue
                r.line, r.reverse_of = True, None  # posted meanwhile: reverse instead
                continue
            except PayBridgeError as exc:
                r.outcomes.append(outcome_for(exc))
                continue
            self.ledger.record(
                r.tx.key, DELETE_STEP, system="d365", entity=LINES, entity_id=r.reverse_of,
                status="removed", detail={"how": how, "why": "void before the journal was posted"},
            )  # fmt: skip
            r.outcomes.append(Outcome.done("line removed"))
        reversals = [r for r in todo if r.line]
        if reversals:
            await self._post_lines(reversals, {})

    # -- orders ----------------------------------------------------------------------------

    async def _update_orders(
        self, todo: Sequence[Routed], docs: dict[tuple[str, str], Documents]
    ) -> None:
        updates: list[tuple[Routed, OrderUpdate]] = []
        for r in todo:
            if r.outcome().status == "dead" or not r.company or not r.reference:
                continue
            doc = docs.get((r.company, r.reference))
            order = doc.order_for(r.account) if doc else None
            if order:
                updates.append((r, OrderUpdate(r.tx.key, r.tx, r.company, order, r.reason)))
        if not updates:
            return
        try:
            outcomes = await self.orders.write([u for _, u in updates])
        except PayBridgeError as exc:
            outcomes = [outcome_for(exc)] * len(updates)
        for (r, _), outcome in zip(updates, outcomes, strict=True):
            r.outcomes.append(outcome)


def line_source(payload: dict[str, Any], invoice: str | None, order: str | None) -> dict[str, Any]:
    """The payment line template's source: the fact, with ``invoice_id`` the D365 invoice the
    line marks (or none) and ``order_id`` the order it prepays; the shop's own invoice number
    from PayTrace stays readable as ``paytrace_invoice_id``."""
    return {
        **payload,
        "paytrace_invoice_id": payload.get("invoice_id"),
        "invoice_id": invoice,
        "order_id": order,
    }


def replay_context(
    payload: dict[str, Any], detail: dict[str, Any], settings: DynamicsSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source and context a payment line was mapped with, rebuilt from its intent's body."""
    body = detail.get("body", {})
    source = line_source(payload, body.get("MarkedInvoice") or None, detail.get("order_id") or None)
    context = {
        "company": body.get("dataAreaId", detail.get("company")),
        "journal_batch_number": body.get("JournalBatchNumber"),
        "customer_account": unescape_display_value(str(body.get("AccountDisplayValue", ""))),
        "bank_account": settings.bank_account,
        "payment_method_name": body.get("PaymentMethodName"),
        "line_number": body.get("LineNumber"),
        "time_zone": settings.timezone,
    }
    return source, context


VOIDED_FIRST = "voided_first"
# The kinds of a transaction's lines in D365 (PaymentId PT-<id>-<kind>).
HELD_KINDS = (
    TransactionKind.SALE, TransactionKind.CAPTURE, TransactionKind.REFUND, TransactionKind.ADJUST,
    TransactionKind.VOID, TransactionKind.RETURN,
)  # fmt: skip


def _any_payment_id(transaction_id: str) -> Expr:
    """PaymentId is one of the transaction's (F&O has no ``in``: an ``or`` of ``eq``)."""
    ids = [f"PT-{transaction_id}-{kind.value}" for kind in HELD_KINDS]
    expr: Expr = F("PaymentId") == ids[0]
    for other in ids[1:]:
        expr = expr | (F("PaymentId") == other)
    return expr


def _signed(rows: Iterable[dict[str, Any]], *, negate: bool) -> Decimal:
    """Credits minus debits of D365 lines (negated on request)."""
    total = sum(
        (
            Decimal(str(row.get("CreditAmount") or 0)) - Decimal(str(row.get("DebitAmount") or 0))
            for row in rows
        ),
        Decimal(0),
    )
    return -total if negate else total
