"""The exactly-once vocabulary in one place: fact keys, partitions, topics, steps, cursor and xref names.

A fact's key is the inbox's dedup key; a partition orders the facts of one thing; a step names an
intent (an external write) of a fact. Renaming any of these in a running installation would make
old facts look new: they are spelled here once.
"""

from __future__ import annotations

# Queue topics (each has exactly one handler in the running engine: app checks at start-up).
PAYMENT_TOPIC = "payment"
UNREADABLE_TOPIC = "payment.unreadable"
CHARGE_RESOLVE_TOPIC = "charge.resolve"
ALERT_TOPIC = "billing.alert"  # billing's dunning steps (handled by the alerting desk)
ALERTS_TOPIC = "alert"  # an alert any part of the engine raises (runtime.alerts.alert_envelope)
ALERT_DELIVERY_TOPIC = "alert.deliver"  # one alert to one channel, retried by the queue
ORDER_PAYMENT_TOPIC = "order.payment"  # a D365 sales order's card fact (orders capability)

# Cursors (the store's bookmarks).
D365_CUSTOMERS_CURSOR = "sync.d365_customers"
PAYTRACE_PROFILES_CURSOR = "sync.paytrace_profiles"
POLLER_CURSOR = "paytrace.poller"
ORDERS_CURSOR = "orders.created"  # newest OrderCreationDateTime of card orders seen

# Cross-reference names.
CUSTOMER_XREF = "paytrace_customer"  # PayTrace customer id -> "company/account"
# An authorization PayBridge placed for a D365 sales order: transaction id -> "company/order";
# o2c leaves such an order's status to the orders capability.
ORDER_AUTH_XREF = "order_authorization"
# The invoice a capture pays: transaction id -> "company/invoice" (linked before the capture is
# sent; o2c marks that invoice with the capture's payment line).
CAPTURE_INVOICE_XREF = "capture_invoice"

# Intent steps: one external write of a fact.
CHARGE_STEP = "paytrace.charge"
CUSTOMER_CREATE_STEP = "d365.customer_create"
PROFILE_CREATE_STEP = "paytrace.profile_create"
HOLD_STEP = "d365.hold"
RELEASE_STEP = "d365.release"
BILLING_CHARGE_STEP = "paytrace.sale"
JOURNAL_POST_STEP = "d365.journal_post"
ORDER_STATUS_STEP = "d365.order_status"
LINE_STEP = "d365.payment_line"
HEADER_STEP = "d365.journal_header"
LINE_DELETE_STEP = "d365.line_delete"
SETTLEMENT_HEADER_STEP = "d365.settlement_journal"
SETTLEMENT_LINES_STEP = "d365.settlement_lines"
ORDER_AUTH_STEP = "paytrace.authorize"
ORDER_CAPTURE_STEP = "paytrace.capture"
ORDER_VOID_STEP = "paytrace.void"
ORDER_REFUND_STEP = "paytrace.refund"


# A PayTrace check (ACH) is numbered apart from card transactions: its facts and D365 lines name
# it ``ACH<check_transaction_id>`` so that a check and a card sale of one number never meet.
ACH_PREFIX = "ACH"


def check_transaction_id(check_id: int | str) -> str:
    """The transaction id of a PayTrace check in facts and in D365's PaymentId/PaymentReference."""
    return f"{ACH_PREFIX}{check_id}"


# The main ``paytrace:`` merchant account: its facts, partitions and cursor keep their names.
DEFAULT_ACCOUNT = ""


def account_transaction(transaction_id: str | int, account: str = DEFAULT_ACCOUNT) -> str:
    """A transaction's id in PayBridge's own keys: the raw id for the main merchant account,
    ``<account>/<id>`` for another (``paytrace.accounts``), so two accounts' transactions never
    share a fact key, partition, intent, ledger entry or cross-reference, even where PayTrace
    hands both the same number. Calls back to PayTrace and D365's PaymentId use the raw id."""
    return f"{account}/{transaction_id}" if account else str(transaction_id)


def paytrace_fact(transaction_id: str | int, kind: str, account: str = DEFAULT_ACCOUNT) -> str:
    """``paytrace:<transaction_id>:<kind>`` (``paytrace:<account>/<id>:<kind>`` for another
    merchant account): one state of one PayTrace transaction."""
    return f"paytrace:{account_transaction(transaction_id, account)}:{kind}"


def fact_account(key: str) -> str:
    """The merchant account a fact key belongs to ("" for the main account's
    ``paytrace:<id>:<kind>``; ``<account>`` for ``paytrace:<account>/<id>:<kind>``)."""
    _, _, rest = key.partition(":")
    account, slash, _ = rest.partition(":")[0].partition("/")
    return account if slash else DEFAULT_ACCOUNT


def transaction_partition(transaction_id: str | int, account: str = DEFAULT_ACCOUNT) -> str:
    """Facts of one PayTrace transaction share a partition: a refund never overtakes its sale."""
    return f"paytrace:{account_transaction(transaction_id, account)}"


def poller_cursor(account: str = DEFAULT_ACCOUNT) -> str:
    """The change poller's cursor of a merchant account (the main one's keeps its old name)."""
    return f"{POLLER_CURSOR}.{account}" if account else POLLER_CURSOR


def order_fact(company: str, document: str, *parts: str | int) -> str:
    """``d365:<company>:<document>:<part>...``: one card fact of a D365 order or credit note,
    e.g. ``d365:usmf:000123:auth:2`` or ``d365:usmf:000123:capture:CIV-000201``."""
    tail = "".join(f":{part}" for part in parts)
    return f"d365:{company.lower()}:{document}{tail}"


def order_partition(company: str, order: str) -> str:
    """The facts of one sales order (authorizations, captures, voids, refunds) in order."""
    return f"d365:{company.lower()}:{order}"
