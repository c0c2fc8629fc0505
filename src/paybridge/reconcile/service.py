"""One reconciliation run: read both systems and the ledger, match, heal, write settlement journals, report."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from zoneinfo import ZoneInfo

from paybridge.clock import Clock, IdFactory, uuid_ids
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import PayTraceAccounts
from paybridge.errors import DataError, PayBridgeError
from paybridge.keys import (
    CAPTURE_INVOICE_XREF,
    CUSTOMER_XREF,
    DEFAULT_ACCOUNT,
    LINE_STEP,
    account_transaction,
)
from paybridge.mapping import CompiledTemplate
from paybridge.reconcile.build import (
    Sources,
    batch_summary,
    exception_entry,
    skipped_entries,
)
from paybridge.reconcile.columns import KINDS, Codes, LedgerColumns, transaction_text
from paybridge.reconcile.heal import (
    HealAction,
    enqueue_heals,
    missing_check_fact,
    missing_fact,
)
from paybridge.reconcile.journal import (
    JournalOutcome,
    SettlementJournalWriter,
    brand_nets,
    plan_settlement,
)
from paybridge.reconcile.load_d365 import D365Day, D365Reader
from paybridge.reconcile.load_paytrace import (
    PayTraceDay,
    Progress,
    load_checks,
    load_paytrace,
    quiet,
    resolve_unknown,
)
from paybridge.reconcile.matcher import Expectations, MatchClass, MatchResult, match
from paybridge.reconcile.report import ReconciliationReport
from paybridge.reconcile.settings import ReconcileSettings
from paybridge.runtime.intents import IntentStore
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.queue import SqlQueue

log = logging.getLogger("paybridge.reconcile")


@dataclass
class Reconciler:
    """Everything a run needs; built by the CLI or the scheduler from the engine's parts.

    ``fact_template`` (``paytrace_export_to_transaction``) makes the facts a heal re-drives;
    ``journal_template`` (``settlement_to_general_journal_line``) the settlement journal lines.
    """

    paytrace: PayTraceClient
    dynamics: DynamicsClient
    queue: SqlQueue
    intents: IntentStore
    ledger: Ledger
    xref: Xref
    settings: ReconcileSettings
    currency: str
    paytrace_timezone: str
    company_timezone: str
    clock: Clock
    fact_template: CompiledTemplate
    journal_template: CompiledTemplate
    ids: IdFactory = field(default_factory=uuid_ids)
    # Every merchant account: a company is reconciled against its own account (its client,
    # currency, time zone and keys). None: ``paytrace`` for every company.
    accounts: PayTraceAccounts | None = None
    # The merchant account this reconciler reads ("": the main one; see ``_for``).
    account: str = DEFAULT_ACCOUNT
    # ACH: the check export is read too (``checks.enabled``); returns are matched with their
    # D365 lines unless D365's "Reverse transaction" undoes them (``checks.reverse_service``).
    checks: bool = False
    check_returns: bool = True

    async def run(
        self,
        day: date,
        company: str,
        *,
        heal: bool = False,
        journal: bool = False,
        progress: Progress = quiet,
    ) -> ReconciliationReport:
        """Read, match and report; heal and write the settlement journals only when asked.

        A run is a report by default: a settlement journal moves money between ledger accounts,
        so it is written only with ``journal`` (``--journal``, or the morning job's
        ``journal_on_schedule``) and while ``settlement_journal`` allows it. With several
        merchant accounts, ``company`` is compared with its own account only.
        """
        company = company.lower()
        self.settings.company(company)  # a company without settings fails before any read
        view = self._for(company)
        return await view._run(day, company, heal=heal, journal=journal, progress=progress)

    def _for(self, company: str) -> Reconciler:
        """This reconciler over ``company``'s merchant account (itself with one account)."""
        if self.accounts is None or not self.accounts.several:
            return self
        merchant = self.accounts.for_company(company)
        same = {f.name: getattr(self, f.name) for f in fields(Reconciler)}
        return Reconciler(**{
            **same, "paytrace": merchant.client, "currency": merchant.currency,
            "paytrace_timezone": merchant.timezone, "account": merchant.name, "accounts": None,
        })  # fmt: skip

    async def _run(
        self, day: date, company: str, *, heal: bool, journal: bool, progress: Progress
    ) -> ReconciliationReport:
        run_id = f"{day.isoformat()}-{self.ids()}"
        pt, d365, result, xref = await self._match(day, company, progress)
        heals = self._heal(pt, result, run_id) if heal else []
        journals: dict[int, JournalOutcome] = {}
        errors: list[str] = []
        if journal and self.settings.settlement_journal:
            journals, errors = await self._journals(company, pt, day)
        src = Sources(
            company=company, pt=pt.columns, d365=d365.columns, records=pt.records,
            rows=d365.rows, batches=pt.batches, posted_journals=d365.posted_journals,
            expected_accounts=xref, paytrace_tz=self.paytrace_timezone,
            heals={f"{h.transaction_id}:{h.kind}": h for h in heals}, checks=pt.checks,
        )  # fmt: skip
        return self._report(
            day, company, run_id, pt, result, src, (heal, journal), journals, errors
        )

    async def _match(
        self, day: date, company: str, progress: Progress
    ) -> tuple[PayTraceDay, D365Day, MatchResult, dict[str, str]]:
        codes = Codes()
        pt = await load_paytrace(
            self.paytrace, day, currency=self.currency,
            lookback_days=self.settings.lookback_days, codes=codes, progress=progress,
            capture_invoices=self._capture_invoices(company),
        )  # fmt: skip
        if self.checks:
            progress("PayTrace checks", 0, None)
            await load_checks(
                self.paytrace, day, pt, lookback_days=self.settings.lookback_days,
                timezone=self.paytrace_timezone, returns=self.check_returns,
            )  # fmt: skip
        reader = D365Reader(self.dynamics, company, codes, self.settings.reference_chunk)
        references = [transaction_text(tx) for tx in (*pt.records, *pt.checks)]
        d365 = await reader.load(references, day, progress)
        await resolve_unknown(self.paytrace, pt, d365.columns.transactions_besides(pt.columns))
        progress("matching", 0, 1)
        xref = self._accounts(company)
        expect = Expectations(
            accounts={
                found: codes.code(account)
                for customer, account in xref.items()
                if (found := codes.find(customer)) is not None
            },
            statuses=pt.statuses,
            reported=pt.reported,
            require_posted=self.settings.require_posted,
        )
        result = match(pt.columns, d365.columns, self._ledger(codes, pt), expect)
        progress("matching", 1, 1)
        return pt, d365, result, xref

    def _capture_invoices(self, company: str) -> dict[str, str]:
        """This account's card orders: authorization id (raw, as PayTrace's export shows it) ->
        the invoice of ``company`` its capture paid (the cross-reference names another
        account's authorization ``<account>/<id>``)."""
        prefix = f"{company.lower()}/"
        mine = account_transaction("", self.account)  # "" or "<account>/"
        out = {}
        for tx, target in self.xref.all(CAPTURE_INVOICE_XREF).items():
            raw = tx.removeprefix(mine) if mine else tx
            if target.lower().startswith(prefix) and raw.isdigit() and (tx != raw or not mine):
                out[raw] = target[len(prefix) :]
        return out

    def _report(
        self,
        day: date,
        company: str,
        run_id: str,
        pt: PayTraceDay,
        result: MatchResult,
        src: Sources,
        asked: tuple[bool, bool],
        journals: dict[int, JournalOutcome],
        errors: list[str],
    ) -> ReconciliationReport:
        accounts = self.settings.company(company)
        return ReconciliationReport(
            company=company,
            day=day,
            run_id=run_id,
            generated_at=self.clock.now(),
            currency=pt.currency,
            timezone=accounts.timezone or self.company_timezone,
            date_format=accounts.date_format,
            counts=result.counts,
            batches=tuple(batch_summary(src, t, journals.get(t.batch)) for t in result.batches),
            exceptions=tuple(exception_entry(src, f) for f in result.findings),
            skipped=skipped_entries(result),
            heals=tuple(src.heals.values()),
            journals=tuple(journals.values()),
            heal_requested=asked[0],
            journal_requested=asked[1],
            notes=tuple(
                f"PayTrace transaction {r.transaction_id} in the day's batches moves no money "
                f"({r.transaction_type or 'no type'}); not matched"
                for r in pt.unreadable
            ),
            errors=tuple(errors),
        )

    def _ledger(self, codes: Codes, pt: PayTraceDay) -> LedgerColumns:
        """What PayBridge recorded posting for the day's transactions (original and heal events)."""
        columns = LedgerColumns(codes)
        for tx in (*pt.records, *pt.checks):
            mine = account_transaction(transaction_text(tx), self.account)
            for entry in self.ledger.entries(f"paytrace:{mine}:"):
                if entry.step == LINE_STEP and entry.status == "posted":
                    columns.add_entity_id(entry.event_key, entry.entity_id)
        return columns

    def _accounts(self, company: str) -> dict[str, str]:
        """PayTrace customer id -> D365 account in ``company``, from the xref (a profile of
        another merchant account is linked as ``<account>/<profile>``: this account's only)."""
        others = {a.name for a in self.accounts.others} if self.accounts else set()
        linked: dict[str, str] = {}
        for customer, target in self.xref.all(CUSTOMER_XREF).items():
            owner, _, account = target.partition("/")
            if owner.lower() != company or not account:
                continue
            merchant, slash, profile = customer.partition("/")
            if slash and (merchant == self.account or merchant in others):
                if merchant == self.account:
                    linked[profile] = account
                continue
            linked[customer] = account
        return linked

    def _heal(self, pt: PayTraceDay, result: MatchResult, run_id: str) -> list[HealAction]:
        facts = []
        for finding in result.findings:
            if finding.match_class is not MatchClass.MISSING_IN_D365:
                continue
            tx = pt.columns.tx[finding.pt_row]
            kind = KINDS[pt.columns.kind[finding.pt_row]]
            check = pt.checks.get(tx)
            if check is None:
                facts.append(
                    missing_fact(
                        pt.records[tx], kind, currency=pt.currency,
                        timezone=self.paytrace_timezone, template=self.fact_template,
                        account=self.account,
                    )
                )  # fmt: skip
                continue
            try:
                facts.append(
                    missing_check_fact(check, kind, currency=pt.currency,
                                       timezone=self.paytrace_timezone, account=self.account)
                )  # fmt: skip
            except (DataError, ValueError) as exc:  # still reported as missing, for a person
                log.warning("heal: check %s %s not re-driven: %s", check.check_transaction_id,
                            kind, exc)  # fmt: skip
        actions = enqueue_heals(self.queue, facts, run_id)
        log.info(
            "heal: %d events enqueued for %d missing facts",
            sum(a.enqueued for a in actions),
            len(actions),
        )
        return actions

    async def _journals(
        self, company: str, pt: PayTraceDay, day: date
    ) -> tuple[dict[int, JournalOutcome], list[str]]:
        writer = SettlementJournalWriter(
            self.dynamics, self.intents, self.ledger, self.journal_template
        )
        accounts = self.settings.company(company)
        nets = brand_nets(pt.columns)
        outcomes: dict[int, JournalOutcome] = {}
        errors: list[str] = []
        for batch, record in sorted(pt.batches.items()):
            settled = record.settled_at_utc(self.paytrace_timezone)
            local_day = (
                settled.astimezone(ZoneInfo(self.paytrace_timezone)).date() if settled else day
            )
            plan = plan_settlement(
                company, accounts, batch, local_day, pt.currency, nets.get(batch, {}),
                self.settings.journal_description,
            )  # fmt: skip
            try:
                outcomes[batch] = await writer.write(plan)
            except PayBridgeError as exc:
                errors.append(f"settlement journal for batch {batch} not written: {exc}")
        return outcomes, errors


def exit_code(reports: Sequence[ReconciliationReport]) -> int:
    """The worst exit code of several runs (e.g. one per company)."""
    return max((r.exit_code for r in reports), default=0)
