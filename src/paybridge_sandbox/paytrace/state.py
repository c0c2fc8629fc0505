"""The sandbox's memory: transactions, customers, batches, tokens, checks and recurrences.

Everything lives in dicts with the indexes the API needs (created local date, pending set,
per-customer lists), so a sale is O(1) and a date-range export touches only its own days.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from paybridge_sandbox.faults import FaultPlan
from paybridge_sandbox.paytrace.cards import CardOnFile
from paybridge_sandbox.paytrace.settings import PayTraceSandboxSettings, SandboxClock
from paybridge_sandbox.paytrace.wire import JsonObject, JsonRenderer

ZERO = Decimal("0.00")

# Transaction states; the export's status_code/status_message are derived from them.
PENDING = "pending"
AUTH_ONLY = "auth_only"
VOIDED = "voided"
DECLINED = "declined"
SETTLED = "settled"


@dataclass
class Transaction:
    transaction_id: int
    transaction_type: str  # SALE | AUTHORIZATION | REFUND
    status: str
    amount: Decimal
    authorized_amount: Decimal
    created_at: datetime
    card: CardOnFile | None
    customer_id: str = ""
    invoice_id: str = ""
    description: str = ""
    customer_reference_id: str = ""
    tax_amount: Decimal | None = None
    billing_address: JsonObject = field(default_factory=dict)
    shipping_address: JsonObject = field(default_factory=dict)
    email: str = ""
    receipt_emailed_to: str = ""
    approval_code: str = ""
    approval_message: str = ""
    avs_response: str = ""
    csc_response: str = ""
    created_by: str = ""
    from_ip: str = ""
    batch_number: int | None = None
    settled_at: datetime | None = None
    refunded: Decimal = ZERO
    parent_id: int | None = None
    discretionary_data: JsonObject = field(default_factory=dict)
    level3_line_items: int = 0
    recurrence_id: int | None = None


@dataclass
class Customer:
    customer_id: str
    created_at: datetime
    card: CardOnFile | None = None
    check_account_last4: str = ""
    check_routing: str = ""
    billing_address: JsonObject = field(default_factory=dict)
    shipping_address: JsonObject = field(default_factory=dict)
    email: str = ""
    phone: str = ""
    fax: str = ""
    discretionary_data: JsonObject = field(default_factory=dict)


@dataclass
class Batch:
    batch_number: int
    settled_at: datetime
    transaction_ids: list[int] = field(default_factory=list)


@dataclass
class Recurrence:
    recurrence_id: int
    customer_id: str
    amount: Decimal
    frequency: str
    start_date: date
    next_date: date | None
    total_count: int
    transaction_type: str = "Sale"
    description: str = ""
    runs: int = 0
    transaction_ids: list[int] = field(default_factory=list)


@dataclass
class Check:
    check_transaction_id: int
    kind: str  # sale | hold | refund
    status: str  # pending | held | voided | settled | returned | declined
    amount: Decimal
    created_at: datetime
    customer_id: str = ""
    account_last4: str = ""
    routing: str = ""
    parent_id: int | None = None
    refunded: Decimal = ZERO
    invoice_id: str = ""
    description: str = ""
    funded_at: datetime | None = None  # a hold funded (checks/manage/fund)
    settled_at: datetime | None = None
    voided_at: datetime | None = None
    returned_at: datetime | None = None
    return_code: str = ""  # the NACHA R-code of a returned check


@dataclass
class ProtectToken:
    """What PayTrace's hosted fields captured, reachable only with the matching enc_key."""

    enc_key: str
    card: CardOnFile
    csc_response: str


@dataclass
class Counters:
    transaction_id: int
    check_transaction_id: int
    batch_number: int
    recurrence_id: int
    approval: int = 100


class SandboxState:
    """The data plus its indexes; the only object that mutates them."""

    def __init__(self, settings: PayTraceSandboxSettings) -> None:
        self.transactions: dict[int, Transaction] = {}
        self.customers: dict[str, Customer] = {}
        self.batches: dict[int, Batch] = {}
        self.recurrences: dict[int, Recurrence] = {}
        self.checks: dict[int, Check] = {}
        self.tokens: dict[str, datetime] = {}
        self.protect_tokens: dict[str, ProtectToken] = {}
        self.client_keys: set[str] = set()  # Protect client keys issued (hosted fields check them)
        self.counters = Counters(
            transaction_id=settings.first_transaction_id,
            check_transaction_id=settings.first_check_transaction_id,
            batch_number=settings.first_batch_number,
            recurrence_id=settings.first_recurrence_id,
        )
        self.by_date: dict[date, list[int]] = {}
        self.dates: list[date] = []
        self.pending: dict[int, None] = {}  # insertion-ordered set of ids awaiting settlement
        self.dirty: dict[str, set[Any]] = {}
        self.record_cache: dict[int, str] = {}
        self.last_tick: datetime | None = None

    def mark(self, table: str, key: Any) -> None:
        self.dirty.setdefault(table, set()).add(key)

    def next_transaction_id(self) -> int:
        value = self.counters.transaction_id
        self.counters.transaction_id += 1
        self.mark("meta", "counters")
        return value

    def next_approval_code(self) -> str:
        self.counters.approval = self.counters.approval % 900 + 100
        code = f"TAS{self.counters.approval:03d}"
        self.counters.approval += 1
        return code

    def index(self, txn: Transaction, local_day: date) -> None:
        ids = self.by_date.get(local_day)
        if ids is None:
            ids = self.by_date[local_day] = []
            bisect.insort(self.dates, local_day)
        ids.append(txn.transaction_id)

    def changed(self, txn: Transaction) -> None:
        """Keep the pending set, the record cache and persistence in step with ``txn``."""
        if txn.status == PENDING:
            self.pending[txn.transaction_id] = None
        else:
            self.pending.pop(txn.transaction_id, None)
        self.record_cache.pop(txn.transaction_id, None)
        self.mark("transactions", txn.transaction_id)

    def ids_between(self, first: date, last: date) -> list[int]:
        low = bisect.bisect_left(self.dates, first)
        high = bisect.bisect_right(self.dates, last)
        found: list[int] = []
        for day in self.dates[low:high]:
            found.extend(self.by_date[day])
        return found


@dataclass
class RequestContext:
    """Who called, from where, and when (sandbox time)."""

    now: datetime
    from_ip: str
    username: str


class Scheduler(Protocol):
    next_due: datetime | None

    def tick(self) -> None: ...


class Storage(Protocol):
    def flush(self, state: SandboxState) -> None: ...

    def close(self) -> None: ...


class PayTraceSandbox:
    """What ``app.state.sandbox`` holds: settings, clock, state, renderer and time helpers."""

    scheduler: Scheduler | None = None
    storage: Storage | None = None
    faults: FaultPlan | None = None

    def __init__(
        self, settings: PayTraceSandboxSettings, clock: SandboxClock, state: SandboxState
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state = state
        self.zone = ZoneInfo(settings.merchant_timezone)
        self.renderer = JsonRenderer()

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.zone)

    def add_transaction(self, txn: Transaction) -> Transaction:
        self.state.transactions[txn.transaction_id] = txn
        self.state.index(txn, self.local(txn.created_at).date())
        self.state.changed(txn)
        return txn

    def tick(self) -> None:
        if self.scheduler is not None:
            self.scheduler.tick()

    def run_scheduler(self) -> None:
        """Run what is due now, even if the clock was moved since the last check."""
        if self.scheduler is not None:
            self.scheduler.next_due = None
            self.scheduler.tick()

    def after_request(self) -> None:
        if self.storage is not None and self.state.dirty:
            self.storage.flush(self.state)

    def close(self) -> None:
        if self.storage is not None:
            self.storage.flush(self.state)
            self.storage.close()
            self.storage = None
