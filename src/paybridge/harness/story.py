"""The demo's story: a storefront, the API calls and the checks it makes, the settings it runs with.

Everything of `paybridge demo` but starting the sandboxes (`paybridge.harness.demo` does that).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.text import Text

from paybridge.app.engine import Engine
from paybridge.app.settings import Settings, StoreSettings, WebSettings
from paybridge.billing.settings import BillingSettings
from paybridge.billing.subscriptions import Frequency, NewSubscription, Schedule
from paybridge.charging.settings import PayLinkSettings
from paybridge.clock import SystemClock
from paybridge.connectors.dynamics import F, Query
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace import (
    Address,
    CaptureRequest,
    CustomerSaleRequest,
    ExportByDateRangeRequest,
    PayTraceClient,
    ProtectCustomerRequest,
    TransactionRecord,
    TransactionRefundRequest,
    VoidRequest,
)
from paybridge.connectors.paytrace.poller import change_kinds
from paybridge.connectors.paytrace.settings import PayTraceAccount, PayTraceSettings
from paybridge.errors import DeclinedError
from paybridge.harness.chaos import compare, expected_lines
from paybridge.harness.story_flows import D365Flows, FlowResults
from paybridge.model import Money
from paybridge.o2c.settings import CheckSettings, OrderToCashSettings, PollerSettings
from paybridge.ops.settings import MetricsSettings
from paybridge.orders.settings import OrdersSettings
from paybridge.reconcile.render import render
from paybridge.reconcile.settings import CompanyReconcileSettings, ReconcileSettings
from paybridge.security.webhooks import sign

DECLINING_AMOUNTS = (Decimal("0.29"), Decimal("1.12"))
COMPANY = "usmf"
SECOND_COMPANY = "usrt"  # the second legal entity, with its own PayTrace merchant account
SECOND_ACCOUNT = "retail"
LINES = "CustomerPaymentJournalLines"
HEADERS = "CustomerPaymentJournalHeaders"
INVOICE = "CIV-000101"  # the seeded invoice of usmf/US-001, charged through the API
NEW_SHOPPERS = 2  # profiles with no D365 customer: order-to-cash creates them
# The shopper's test card: it only ever goes from "the browser" to the PayTrace sandbox.
_TEST_CARD = {"number": "4012000098765439", "expiration_month": 12, "expiration_year": 2030}


@dataclass
class DemoSummary:
    """The ``--exit`` line: the required keys first, then what the story did."""

    payments: int
    approved: int
    posted: int
    duplicates: int
    missing: int
    seconds: float
    declined: int = 0
    voids: int = 0
    refunds: int = 0
    captures: int = 0
    charges: int = 0
    charge_replayed: bool = False
    event_duplicates: int = 0
    subscription_charges: int = 0
    customers_created: int = 0
    expected_lines: int = 0
    dead_letters: int = 0
    reconciliation: str = "not run"
    report: str = ""
    # D365 driving PayTrace (story_flows): a card order's captures and its approved refund, an
    # invoice paid by link (its transaction), an ACH payment returned by the bank.
    order_captures: int = 0
    order_refund: str = "not run"
    paylink_paid: str = ""
    ach_returned: bool = False
    # The second company (its own PayTrace merchant account): its sales, posted there.
    second_company: str = ""
    second_company_approved: int = 0
    second_company_posted: int = 0
    second_company_reconciliation: str = "not run"

    @property
    def ok(self) -> bool:
        second = self.second_company_posted == self.second_company_approved
        return (
            self.posted == self.approved and self.duplicates == 0 and self.missing == 0 and second
        )


@dataclass
class Storefront:
    """A merchant's web shop with its own PayTrace session; cards reach PayTrace as Protect tokens."""

    paytrace: PayTraceClient
    http: httpx.AsyncClient
    paytrace_url: str
    rng: random.Random
    made: int = 0
    approved: list[str] = field(default_factory=list)
    declined: int = 0

    async def open_profile(self, profile_id: str, name: str) -> None:
        """A shopper saves a card at checkout: hosted fields tokenize it, the shop stores a profile."""
        reply = await self.http.post(
            f"{self.paytrace_url}/_sandbox/protect/tokenize",
            json={"credit_card": _TEST_CARD, "csc": "999"},
        )
        reply.raise_for_status()
        token = reply.json()
        await self.paytrace.create_customer_pt_protect(
            ProtectCustomerRequest(
                customer_id=profile_id, hpf_token=SecretStr(token["hpf_token"]),
                enc_key=SecretStr(token["enc_key"]),
                billing_address=Address(name=name, street_address="8320 E. West St.",
                                        city="Spokane", state="WA", zip="99201"),
            )
        )  # fmt: skip

    async def sell(self, profiles: list[str], payments: int) -> None:
        for n in range(payments):
            # The first orders are the new shoppers': their D365 customers get created.
            profile = profiles[n] if n < NEW_SHOPPERS else self.rng.choice(profiles)
            request = CustomerSaleRequest(
                customer_id=profile,
                amount=self._amount(n),
                invoice_id=f"WEB-{n + 1:06d}",
                description=f"Web order {n + 1}",
            )
            try:
                response = await self.paytrace.sale_by_customer(request)
                self.approved.append(str(response.transaction_id))
            except DeclinedError:
                self.declined += 1
            self.made += 1

    def _amount(self, n: int) -> Decimal:
        if n % 20 == 7:
            return DECLINING_AMOUNTS[n % 2]
        return Decimal(self.rng.randint(500, 250_000)).scaleb(-2)

    async def records(self) -> list[TransactionRecord]:
        """Every transaction around today, as PayTrace's own export shows it."""
        today = self.paytrace.local_date(SystemClock().now())
        request = ExportByDateRangeRequest(
            start_date=today - timedelta(days=1), end_date=today + timedelta(days=1)
        )
        return await self.paytrace.export_by_date_range(request)


def demo_expected(records: list[TransactionRecord]) -> dict[str, tuple[str, Decimal]]:
    """``chaos.expected_lines`` plus a credit line per captured authorization (not voided)."""
    out = expected_lines(records)
    for rec in records:
        kinds = change_kinds(rec)
        if "capture" in kinds and "void" not in kinds:
            out[f"PT-{rec.transaction_id}-capture"] = ("credit", Decimal(str(rec.amount)))
    return out


@dataclass(frozen=True)
class ReadBack:
    """D365 against PayTrace: expected lines, how many are lost or extra, and the sales posted."""

    expected: int
    lost: int
    duplicated: int
    sales_posted: int


async def read_back(
    engine: Engine, shop: Storefront, extra: dict[str, tuple[str, Decimal]] | None = None
) -> ReadBack:
    """``extra``: lines PayTrace's card export cannot show (ACH), expected all the same."""
    expected = demo_expected(await shop.records()) | (extra or {})
    lines = await engine.dynamics.query(
        LINES,
        Query(
            filter=F("dataAreaId") == COMPANY, select=["PaymentId", "CreditAmount", "DebitAmount"]
        ),
    )
    lost, duplicated = compare(expected, lines)
    seen = Counter(str(line.get("PaymentId", "")) for line in lines)
    posted = sum(1 for tx in shop.approved if seen[f"PT-{tx}-sale"] >= 1)
    return ReadBack(len(expected), lost, duplicated, posted)


def demo_settings(
    paytrace_url: str,
    dynamics_url: str,
    store: Path,
    event_secret: str = "",
    second_url: str = "",
    public_url: str | None = None,
) -> Settings:
    """The demo's settings; with ``second_url`` a second PayTrace merchant account (that
    sandbox) for the second company, usrt; ``public_url``: where pay links point (the API)."""
    secrets_ = {"storefront": [SecretStr(event_secret)]} if event_secret else {}
    accounts = [
        PayTraceAccount(
            name=SECOND_ACCOUNT, company=SECOND_COMPANY, base_url=second_url,
            username=SecretStr("sandbox"), password=SecretStr("sandbox"),
            integrator_id=SecretStr("SANDBOX00001"), bank_account="USRT OPER",
        )
    ] if second_url else []  # fmt: skip
    companies = {COMPANY: CompanyReconcileSettings()}
    if second_url:
        companies[SECOND_COMPANY] = CompanyReconcileSettings(bank_account="USRT OPER")
    return Settings(
        store=StoreSettings(url=f"sqlite:///{store}"),
        paytrace=PayTraceSettings(
            base_url=paytrace_url, username=SecretStr("sandbox"), password=SecretStr("sandbox"),
            integrator_id=SecretStr("SANDBOX00001"), poll_interval_seconds=0.5,
            accounts=accounts,
        ),
        dynamics=DynamicsSettings(
            base_url=dynamics_url, tenant="sandbox-tenant", client_id="sandbox-client",
            client_secret=SecretStr("sandbox-secret"), login_redirect=dynamics_url,
            company=COMPANY,
        ),
        # The engine's own cut-off job posts the journals: the demo's cut-off is 00:00, so each
        # journal is posted as the day goes on (later lines go to the day's next journal).
        o2c=OrderToCashSettings(
            missing_customer="create", post_journals=True, post_at="00:00",
            post_interval_seconds=1.0,
        ),
        # Captures and voids of older sales show up within a second, not the default 30 s.
        poller=PollerSettings(state_interval_seconds=0.5),
        web=WebSettings(event_secrets=secrets_, charge_burst=100),
        # The demo reconciles its own batch. Its payment journal books straight to the bank
        # (CustPay offsets USMF OPER) and the seeded chart has no clearing account: no
        # clearing-to-bank settlement journal to write.
        reconcile=ReconcileSettings(
            companies=companies, schedule_at=None, settlement_journal=False
        ),
        # Subscriptions are billed by the engine's billing job, as in production, every second.
        billing=BillingSettings(enabled=True, interval_seconds=1.0),
        # The demo's API listens on 127.0.0.1 only: its /metrics needs no key, and its own
        # counters reach the store every second.
        metrics=MetricsSettings(require_key=False, heartbeat_seconds=1.0),
        # Card orders watched every half second; a refund above 100.00 waits for an approval.
        orders=OrdersSettings(enabled=True, interval_seconds=0.5,
                              refund_approval_above=Decimal("100"), unsettled_retry_seconds=1),
        # Pay-by-link pages served by the demo's API (a fresh key per demo run).
        paylinks=PayLinkSettings(link_secret=SecretStr(secrets.token_urlsafe(32)),
                                 public_url=public_url),
        # ACH: PayTrace's check export polled every half second.
        checks=CheckSettings(enabled=True, poll_interval_seconds=0.5),
    )  # fmt: skip


@dataclass
class Story:
    """The demo's sequence, told as it happens; every count it prints is read back from a system."""

    engine: Engine
    shop: Storefront
    api: httpx.AsyncClient
    event_secret: str
    console: Console
    payments: int
    started: float
    timeout: float
    # The second company's shop, selling through its own merchant account (None: one company).
    second: Storefront | None = None
    summary: DemoSummary = field(init=False)
    flows: FlowResults = field(init=False)

    def __post_init__(self) -> None:
        self.summary = DemoSummary(self.payments, 0, 0, 0, 0, 0.0)
        self.flows = FlowResults()

    def say(self, text: str) -> None:
        self.console.print(Text(f"• {text}"))

    async def open_customers(self) -> list[str]:
        """Profiles through Protect; most linked to D365 customers (the cross-reference)."""
        accounts = await self.engine.dynamics.query("CustomersV3", None)
        usmf = sorted(
            str(row["CustomerAccount"]) for row in accounts if row.get("dataAreaId") == COMPANY
        )
        count = min(25, max(self.payments, NEW_SHOPPERS + 1))
        profiles = []
        for n in range(count):
            profile_id = f"SHOP-{n + 1:04d}"
            await self.shop.open_profile(profile_id, f"Demo Shopper {n + 1}")
            if n >= NEW_SHOPPERS:
                target = f"{COMPANY}/{usmf[(n - NEW_SHOPPERS) % len(usmf)]}"
                self.engine.store.xref.link("paytrace_customer", profile_id, target)
            profiles.append(profile_id)
        self.say(
            f"storefront: {count} shoppers saved cards through PayTrace Protect (tokens only); "
            f"{NEW_SHOPPERS} of them are new to D365"
        )
        return profiles

    async def watch(self, busy: asyncio.Task[None] | None, label: str) -> ReadBack:
        """Live status until D365 holds every expected line once and the queue is idle."""
        stable = 0
        with Live(console=self.console, refresh_per_second=4, transient=True) as live:
            while True:
                await asyncio.sleep(0.4)
                found = await read_back(self.engine, self.shop, self.flows.expected)
                stats = self.engine.store.queue.stats()
                idle = stats.ready + stats.leased == 0
                live.update(Text(
                    f"{label}: made {self.shop.made}/{self.payments} · approved "
                    f"{len(self.shop.approved)} · declined {self.shop.declined} · D365 lines "
                    f"{found.expected - found.lost}/{found.expected} · pending "
                    f"{stats.ready + stats.leased} · inbox duplicates {stats.duplicates} · "
                    f"dead letters {stats.dead}"
                ))  # fmt: skip
                if busy is None or busy.done():
                    if busy is not None:
                        busy.result()
                    settled = idle and (found.lost == 0 or stats.dead > 0)
                    stable = stable + 1 if settled else 0
                    if stable >= 2:
                        return found
                if time.monotonic() - self.started > self.timeout:
                    self.say(f"[timeout] {label}: giving up after {self.timeout:.0f} s")
                    return found

    async def sell(self, profiles: list[str]) -> None:
        selling = asyncio.create_task(self.shop.sell(profiles, self.payments))
        try:
            found = await self.watch(selling, "sales")
        finally:  # Ctrl-C (or a failure) mid-sale: the shop stops before the servers do
            selling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await selling
        self.say(
            f"storefront: {self.payments} card sales, {len(self.shop.approved)} approved, "
            f"{self.shop.declined} declined; the poller found them and "
            f"D365 has {found.sales_posted} payment lines"
        )

    async def void_and_capture(self, profiles: list[str], voids: list[str]) -> None:
        for tx in voids:
            await self.shop.paytrace.void(VoidRequest(transaction_id=int(tx)))
        self.summary.voids = len(voids)
        held = await self.shop.paytrace.authorize_by_customer(
            CustomerSaleRequest(customer_id=profiles[-1], amount=Decimal("75.00"),
                                invoice_id="WEB-AUTH-1", description="Web order (ship later)")
        )  # fmt: skip
        await self.shop.paytrace.capture(CaptureRequest(transaction_id=held.transaction_id))
        self.summary.captures = 1
        self.say(
            f"storefront: voided {len(voids)} unsettled sales; authorized 75.00 USD "
            f"(transaction {held.transaction_id}) and captured it at shipping"
        )

    async def charge_invoice(self) -> None:
        """The back office charges a D365 invoice through the API, then repeats the call."""
        token = self.engine.security.api_keys.create("operator", label="demo back office").token
        headers = {"Idempotency-Key": f"demo-{INVOICE}", "Authorization": f"Bearer {token}"}
        body = {"company": COMPANY, "invoice_number": INVOICE}
        first = await self.api.post("/v1/charges", json=body, headers=headers)
        again = await self.api.post("/v1/charges", json=body, headers=headers)
        one, two = first.json(), again.json()
        if first.status_code != 201:
            self.say(f"[charge] POST /v1/charges answered {first.status_code}: {first.text}")
            return
        self.summary.charges = 1
        self.summary.charge_replayed = bool(
            two.get("replayed") and two.get("transaction_id") == one.get("transaction_id")
        )
        self.say(
            f"API: POST /v1/charges {INVOICE} -> {first.status_code} {one['status']} "
            f"{one['amount']['amount']} {one['amount']['currency']}, transaction "
            f"{one['transaction_id']}; same Idempotency-Key again -> {again.status_code}, "
            f"replayed={two.get('replayed')}, no second charge"
        )

    async def signed_event(self, tx: str) -> None:
        """The storefront pushes "payment processed" for a sale the poller already saw."""
        body = json.dumps({"type": "payment.processed", "transaction_id": int(tx)}).encode()
        webhook_id = f"msg_demo_{tx}"
        stamp = int(SystemClock().now().timestamp())
        headers = {
            "webhook-id": webhook_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self.event_secret, webhook_id, stamp, body),
            "content-type": "application/json",
        }  # fmt: skip
        reply = await self.api.post("/v1/events", content=body, headers=headers)
        if reply.status_code != 202:
            self.say(f"[event] POST /v1/events answered {reply.status_code}: {reply.text}")
            return
        facts = reply.json()["facts"]
        self.summary.event_duplicates = sum(1 for f in facts if not f["new"])
        shown = ", ".join(f"{f['key']} {'new' if f['new'] else 'duplicate'}" for f in facts)
        self.say(f"signed event payment.processed for {tx}: verified with PayTrace -> {shown}")

    async def subscribe(self, profile: str) -> None:
        """A subscription starting today; the engine's own billing job charges it."""
        store = self.engine.subscriptions
        today = self.shop.paytrace.local_date(SystemClock().now())
        sub = store.add(NewSubscription(
            customer_id=profile, amount=Money.of(Decimal("29.00"), "USD"),
            schedule=Schedule(frequency=Frequency.MONTHLY, start=today, count=12),
            d365_reference="Demo plan",
        ))  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            charges = store.charges(sub.id)
            if any(c.status.value in ("approved", "retrying", "failed") for c in charges):
                break
            await asyncio.sleep(0.1)
        self.summary.subscription_charges = sum(
            1 for c in store.charges(sub.id) if c.status.value == "approved"
        )
        self.say(
            f"subscription {sub.id}: 29.00 USD monthly for {profile}; billed by the engine's "
            f"billing job: {self.summary.subscription_charges} approved"
        )

    def _d365_flows(self) -> D365Flows:
        return D365Flows(self.engine, self.shop.paytrace, self.shop.http, self.shop.paytrace_url,
                         self.say, self.flows)  # fmt: skip

    async def d365_drives_paytrace(self, profile: str) -> None:
        """A card order and a pay link (``story_flows``)."""
        await self._d365_flows().card_order(profile)
        await self._d365_flows().pay_link(self.api)
        s = self.summary
        s.order_captures, s.order_refund = self.flows.order_captures, self.flows.order_refund
        s.paylink_paid = self.flows.paylink_paid

    async def ach(self) -> None:
        """An ACH payment, settled, and the bank's return, before the day's reconciliation:
        both are the day's ACH facts, matched with their D365 lines."""
        await self._d365_flows().ach()
        self.summary.ach_returned = self.flows.ach_returned

    async def settle_and_refund(self, refunds: list[str]) -> date:
        await self.shop.paytrace.settle()
        day = self.shop.paytrace.local_date(SystemClock().now())
        for tx in refunds:
            await self.shop.paytrace.refund_for_transaction(
                TransactionRefundRequest(transaction_id=int(tx), invoice_id=f"REFUND-{tx}")
            )
        self.summary.refunds = len(refunds)
        self.say(f"storefront: settled the day's batch, then refunded {len(refunds)} sales")
        return day

    async def journals_posted(self, company: str = COMPANY) -> None:
        """Wait for the engine's cut-off job (past 00:00 in the demo) to post every journal."""
        deadline = time.monotonic() + 30
        open_: list[str] = []
        while time.monotonic() < deadline:
            lines = await self.engine.dynamics.query(
                LINES, Query(filter=F("dataAreaId") == company, select=["JournalBatchNumber"],
                             cross_company=True),
            )  # fmt: skip
            journals = {str(row["JournalBatchNumber"]) for row in lines}
            headers = await self.engine.dynamics.query(
                HEADERS, Query(filter=F("dataAreaId") == company,
                               select=["JournalBatchNumber", "IsPosted"], cross_company=True),
            )  # fmt: skip
            posted = {str(h["JournalBatchNumber"]) for h in headers if h.get("IsPosted") == "Yes"}
            open_ = sorted(journals - posted)
            if not open_:
                self.say(
                    f"cut-off: the engine posted {len(journals)} payment journal(s) of {company} "
                    "(the demo's cut-off is 00:00, so each is posted as the day goes on)"
                )
                return
            await asyncio.sleep(0.2)
        self.say(f"cut-off: journals still unposted after 30 s: {', '.join(open_)}")

    async def reconcile(self, day: date, reports: Path) -> None:
        await self.journals_posted()
        report = await self.engine.reconciler().run(day, COMPANY, heal=False)
        reports.mkdir(parents=True, exist_ok=True)
        path = reports / f"reconcile-{COMPANY}-{day.isoformat()}.html"
        path.write_bytes(render(report, "html"))
        outcome = {0: "matched", 1: "differences"}.get(report.exit_code, "failed")
        self.summary.reconciliation, self.summary.report = outcome, str(path)
        self.say(f"reconciliation {COMPANY} {day.isoformat()}: {outcome}; report {path}")

    async def second_company(self, reports: Path) -> None:
        """The second legal entity sells through its own PayTrace account (a second sandbox,
        whose transaction ids overlap the first's): its sales reach usrt only, and usrt is
        reconciled against that account."""
        shop = self.second
        if shop is None:
            return
        customers = await self.engine.dynamics.query(
            "CustomersV3", Query(filter=F("dataAreaId") == SECOND_COMPANY,
                                 select=["CustomerAccount"], cross_company=True),
        )  # fmt: skip
        usrt = sorted(str(row["CustomerAccount"]) for row in customers)
        profiles = []
        for n in range(3):
            profile_id = f"RETAIL-{n + 1:04d}"
            await shop.open_profile(profile_id, f"Retail Shopper {n + 1}")
            target = f"{SECOND_COMPANY}/{usrt[n % len(usrt)]}"
            self.engine.store.xref.link(
                "paytrace_customer", f"{SECOND_ACCOUNT}/{profile_id}", target
            )
            profiles.append(profile_id)
        await shop.sell(profiles, min(6, max(2, self.payments // 10)))
        s = self.summary
        s.second_company, s.second_company_approved = SECOND_COMPANY, len(shop.approved)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = await self.engine.dynamics.query(
                LINES, Query(filter=F("dataAreaId") == SECOND_COMPANY, select=["PaymentId"],
                             cross_company=True),
            )  # fmt: skip
            held = {str(row["PaymentId"]) for row in lines}
            s.second_company_posted = sum(1 for tx in shop.approved if f"PT-{tx}-sale" in held)
            if s.second_company_posted == len(shop.approved):
                break
            await asyncio.sleep(0.2)
        await shop.paytrace.settle()
        day = shop.paytrace.local_date(SystemClock().now())
        await self.journals_posted(SECOND_COMPANY)
        report = await self.engine.reconciler().run(day, SECOND_COMPANY, heal=False)
        path = reports / f"reconcile-{SECOND_COMPANY}-{day.isoformat()}.html"
        path.write_bytes(render(report, "html"))
        s.second_company_reconciliation = {0: "matched", 1: "differences"}.get(
            report.exit_code, "failed"
        )
        self.say(
            f"second company {SECOND_COMPANY} (PayTrace account {SECOND_ACCOUNT}, ids overlapping "
            f"the first's): {len(shop.approved)} sales approved, {s.second_company_posted} "
            f"posted in {SECOND_COMPANY} only; reconciliation {s.second_company_reconciliation}"
        )

    async def finish(self) -> DemoSummary:
        found = await self.watch(None, "final read-back")
        accounts = await self.engine.dynamics.query("CustomersV3", None)
        new = {f"SHOP-{n + 1:04d}" for n in range(NEW_SHOPPERS)}
        s = self.summary
        s.customers_created = sum(1 for row in accounts if row.get("CustomerAccount") in new)
        s.approved, s.declined = len(self.shop.approved), self.shop.declined
        s.posted, s.duplicates, s.missing = found.sales_posted, found.duplicated, found.lost
        s.expected_lines = found.expected
        s.dead_letters = self.engine.store.queue.stats().dead
        s.seconds = round(time.monotonic() - self.started, 2)
        self.say(
            f"D365 read back: {found.expected - found.lost} of {found.expected} expected lines, "
            f"{found.duplicated} extra, {s.customers_created} customers created"
        )
        return s

    async def run(self, reports: Path) -> DemoSummary:
        profiles = await self.open_customers()
        await self.sell(profiles)
        approved = list(self.shop.approved)
        few = max(1, min(5, len(approved) // 25))
        event_tx, voids, refunds = approved[0], approved[1 : 1 + few], approved[1 + few :][-few:]
        await self.signed_event(event_tx)
        await self.void_and_capture(profiles, voids)
        await self.charge_invoice()
        await self.subscribe(profiles[-1])
        await self.d365_drives_paytrace(profiles[-1])
        await self.watch(None, "posting")
        day = await self.settle_and_refund(refunds)
        await self.watch(None, "refunds")
        await self.ach()
        await self.reconcile(day, reports)
        await self.second_company(reports)
        return await self.finish()


def storefront_client(http: httpx.AsyncClient, merchant: PayTraceSettings) -> PayTraceClient:
    """The shop's own PayTrace session on the merchant's account (PayBridge's is separate)."""
    return PayTraceClient(
        http,
        username=merchant.username.get_secret_value(),
        password=merchant.password.get_secret_value(),
        integrator_id=merchant.integrator_id.get_secret_value(),
        base_url=merchant.base_url,
    )
