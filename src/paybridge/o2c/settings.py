"""``o2c:`` and ``poller:`` settings: what a payment does in D365, and the PayTrace poller's windows."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from paybridge.config import Section


class OrderToCashSettings(Section):
    """What a payment does in D365 beyond its journal line: customers, orders, voids, posting."""

    # A PayTrace customer with no D365 account: create it from the PayTrace profile, or wait in
    # the dead-letter queue until someone links one (``paybridge xref link``).
    missing_customer: Literal["create", "dead_letter"] = "dead_letter"
    new_customer_group: str = "30"
    new_customer_party_type: Literal["Person", "Organization"] = "Person"
    # Created accounts are ``<prefix><PayTrace customer id>``: the key is the exactly-once anchor.
    new_customer_prefix: str = ""
    # A payment naming a sales order (not an open invoice) is a prepayment against it.
    prepay_orders: bool = True
    # Hold/release the order (IsSalesProcessingStopped) through the order-status template.
    order_hold: bool = True
    # Extension fields on SalesOrderHeadersV2 (None: not deployed): status word, decline reason.
    order_status_field: str | None = None
    order_reason_field: str | None = None
    # A void of a sale whose line is still in an unposted journal: remove the line, or add a
    # reversing line (the default keeps every PayTrace state visible as its own line).
    void_unposted: Literal["delete", "reverse"] = "reverse"
    # Post the day's payment journals at ``post_at`` (HH:MM, dynamics.timezone) through the
    # posting service, or leave them for an accountant.
    post_journals: bool = False
    post_at: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    posting_service: str = "PayBridgeSandbox/Journals/post"
    # How often the cut-off job looks whether a day's journals are due.
    post_interval_seconds: float = Field(default=60.0, gt=0)
    # Go-live: PayTrace transactions from before this moment (ISO 8601 with its offset, e.g.
    # 2026-12-01T00:00:00-08:00) are not posted, since D365 has them already (keyed by hand or
    # by the tool PayBridge replaces). None: every transaction the poller reads is posted, each
    # checked against D365 by its PaymentId first, so a new or restored store never re-posts
    # PayBridge's own lines; lines without a PayBridge PaymentId are D365's business.
    cut_over: AwareDatetime | None = None


class PollerSettings(Section):
    """The PayTrace change poller's windows (see ``ChangePoller``)."""

    # New rows are read from this far behind the last watermark (late rows within it are found).
    overlap_seconds: float = Field(default=600.0, gt=0)
    # Captures, voids and settlements are looked for this far back.
    lookback_days: float = Field(default=7.0, gt=0)
    # The narrow capture/void exports run at most this often.
    state_interval_seconds: float = Field(default=30.0, ge=0)
    # The sweep for rows that appear in PayTrace's export late: every so often (0: never), the
    # last ``sweep_days`` days are read whole; what the inbox already has is dropped by key.
    sweep_interval_seconds: float = Field(default=1800.0, ge=0)
    sweep_days: int = Field(default=1, ge=0, le=31)


class CheckSettings(Section):
    """ACH checks: PayTrace's check export polled, each check's states posted like card ones."""

    # Poll the check export (job paytrace.poll_checks) and post what it shows.
    enabled: bool = False
    poll_interval_seconds: float = Field(default=300.0, gt=0)
    # How far back each poll reads: returns (R-codes) come up to 60 days after the debit.
    lookback_days: int = Field(default=60, ge=1, le=90)
    # D365 method of payment on ACH lines (a CustomerPaymentMethods name); empty: dynamics.payment_method.
    payment_method: str = ""
    # A return of a payment D365 has posted: "Reverse transaction" through this custom JSON
    # service (group/service/operation, idempotent by PaymentId), which re-opens the invoice;
    # unset: a reversing debit line (the invoice stays settled, the customer's balance re-opens).
    reverse_service: str | None = Field(default=None, pattern=r"^[^/\s]+/[^/\s]+/[^/\s]+$")
