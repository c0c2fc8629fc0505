"""The chaos run's money checks: D365's payment lines against PayTrace's own export, line by line.

For every PayTrace transaction the export shows its final state, and that decides what D365 must
hold for it, whatever lines the engine chose to write on the way:

* an approved sale: its amount as it stands (an adjusted sale: the adjusted amount) credited;
  a voided sale: nothing (net zero);
* an authorization: the captured amount credited once captured (partial captures included);
  nothing while it is only authorized or after it was voided;
* a refund: its amount debited; a voided refund: nothing;
* a decline: no line at all.

Counts (each line and transaction counted once, under the first that applies):

* ``lost``: a transaction that must move money and whose own line (``PT-<id>-sale``,
  ``-capture`` or ``-refund``) is not in D365;
* ``duplicated``: a ``PaymentId`` written more than once, and lines with no approved PayTrace
  transaction behind them (declines included);
* ``wrong_amount``: the transaction's net in D365 (credits less debits of its lines) is not what
  PayTrace shows, with the right sign (a voided sale that stays credited, an adjust that never
  arrived, a partial capture booked in full);
* ``wrong_sign``: a line on the wrong side for its kind (a sale or capture debited, a refund
  credited), or a net of the opposite sign;
* ``wrong_account``: a line whose customer account is not the D365 account of the transaction's
  PayTrace customer;
* ``wrong_currency``: a line not in the merchant's currency.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from paybridge.connectors.paytrace import TransactionRecord
from paybridge.connectors.paytrace.poller import change_kinds
from paybridge.keys import LINE_STEP, paytrace_fact
from paybridge.store import open_engine
from paybridge.store.schema import ledger

LINE_FIELDS = [
    "PaymentId", "PaymentReference", "CreditAmount", "DebitAmount", "AccountDisplayValue",
    "CurrencyCode",
]  # fmt: skip
# The side each kind of line must be on; a void (or an adjust) may be on either.
_SIDE = {"sale": "credit", "capture": "credit", "refund": "debit"}
ZERO = Decimal("0")


@dataclass(frozen=True)
class Owed:
    """What D365 must hold for one PayTrace transaction."""

    transaction_id: str
    base: str  # sale, authorization or refund
    net: Decimal  # credits less debits
    declined: bool
    customer: str

    @property
    def anchor(self) -> str | None:
        """The PaymentId that must be there when money moved."""
        if self.net == 0:
            return None
        kind = "capture" if self.base == "authorization" else self.base
        return f"PT-{self.transaction_id}-{kind}"


def owed(record: TransactionRecord) -> Owed:
    kinds = change_kinds(record)
    amount = Decimal(str(record.amount))
    base = kinds[0] if kinds[0] != "decline" else record.transaction_type.strip().lower()
    voided = "void" in kinds
    if "decline" in kinds or voided:
        net = ZERO
    elif base == "refund":
        net = -amount
    elif base == "authorization":
        net = amount if "capture" in kinds else ZERO
    else:
        net = amount
    return Owed(
        str(record.transaction_id), base, net, "decline" in kinds, record.customer_id.strip()
    )


@dataclass
class MoneyCheck:
    lost: int = 0
    duplicated: int = 0
    wrong_amount: int = 0
    wrong_sign: int = 0
    wrong_account: int = 0
    wrong_currency: int = 0
    lines: int = 0
    transactions: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, count: str, what: str) -> None:
        setattr(self, count, getattr(self, count) + 1)
        seen = self.examples.setdefault(count, [])
        if len(seen) < 5:
            seen.append(what)

    @property
    def bad(self) -> int:
        return sum(
            getattr(self, name)
            for name in ("lost", "duplicated", "wrong_amount", "wrong_sign", "wrong_account",
                         "wrong_currency")
        )  # fmt: skip

    def counts(self) -> dict[str, int]:
        data = asdict(self)
        data.pop("examples")
        return data


def _transaction_of(payment_id: str) -> tuple[str, str] | None:
    """``PT-<id>-<kind>`` -> (id, kind)."""
    parts = payment_id.split("-")
    if len(parts) != 3 or parts[0] != "PT" or not parts[1].isdigit():
        return None
    return parts[1], parts[2]


def display_value(text: str) -> str:
    """A D365 display value segment without its escapes (``US\\-002`` is account ``US-002``)."""
    out, escaped = [], False
    for char in text:
        if char == "\\" and not escaped:
            escaped = True
            continue
        out.append(char)
        escaped = False
    return "".join(out)


def _amounts(line: dict[str, Any]) -> tuple[Decimal, Decimal]:
    return Decimal(str(line.get("CreditAmount") or 0)), Decimal(str(line.get("DebitAmount") or 0))


def check_lines(
    records: list[TransactionRecord],
    lines: list[dict[str, Any]],
    accounts: dict[str, str],
    currency: str = "USD",
) -> MoneyCheck:
    """D365 lines (``LINE_FIELDS``) against the export; ``accounts``: PayTrace customer id ->
    the D365 account its payments must be booked to."""
    result = MoneyCheck(lines=len(lines), transactions=len(records))
    due = {o.transaction_id: o for o in map(owed, records)}
    copies = Counter(str(line.get("PaymentId", "")) for line in lines)
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        pid = str(line.get("PaymentId", ""))
        parsed = _transaction_of(pid)
        owner = due.get(parsed[0]) if parsed else None
        if parsed is None or owner is None or owner.declined:
            result.note("duplicated", f"{pid}: no approved PayTrace transaction")
            continue
        by_tx[owner.transaction_id].append(line)
        _check_line(result, line, parsed[1], owner, accounts, currency)
    for pid, n in copies.items():
        if n > 1 and _transaction_of(pid) and pid.split("-")[1] in by_tx:
            for _ in range(n - 1):
                result.note("duplicated", f"{pid} written {n} times")
    for tx_id, debt in due.items():
        _check_net(result, debt, by_tx.get(tx_id, []), copies)
    return result


def _check_line(
    result: MoneyCheck,
    line: dict[str, Any],
    kind: str,
    owner: Owed,
    accounts: dict[str, str],
    currency: str,
) -> None:
    pid = str(line.get("PaymentId", ""))
    credit, debit = _amounts(line)
    side = _SIDE.get(kind)
    if (side == "credit" and debit > 0) or (side == "debit" and credit > 0):
        result.note("wrong_sign", f"{pid}: credit {credit} debit {debit}")
    account = display_value(str(line.get("AccountDisplayValue", "")))
    want = accounts.get(owner.customer)
    if want is None or account != want:
        result.note("wrong_account", f"{pid}: {account!r}, PayTrace customer {owner.customer!r}")
    if str(line.get("CurrencyCode", "")).upper() != currency.upper():
        result.note("wrong_currency", f"{pid}: {line.get('CurrencyCode')!r}")


def _check_net(
    result: MoneyCheck, debt: Owed, lines: list[dict[str, Any]], copies: Counter[str]
) -> None:
    anchor = debt.anchor
    if anchor is not None and copies[anchor] == 0:
        result.note("lost", f"{anchor}: {debt.net} not in D365")
        return
    if any(copies[str(line.get("PaymentId", ""))] > 1 for line in lines):
        return  # counted as duplicated already
    net = sum((c - d for c, d in map(_amounts, lines)), ZERO)
    if net == debt.net:
        return
    what = f"PT-{debt.transaction_id} ({debt.base}): D365 net {net}, PayTrace {debt.net}"
    if net * debt.net < 0:
        result.note("wrong_sign", what)
    else:
        result.note("wrong_amount", what)


def check_lineage(store_url: str, lines: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """(doubled, missing): how many D365 lines' facts have more than one "posted" lineage row
    in the store, and the PaymentIds of lines with none. A worker that lost its lease and still
    recorded what it did (no fencing) leaves two; an auditor reads the lineage, so it must be
    exactly one."""
    engine = open_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(ledger.c.event_key, func.count())
                .where(ledger.c.step == LINE_STEP, ledger.c.status == "posted")
                .group_by(ledger.c.event_key)
            ).all()
    finally:
        engine.dispose()
    posted = {str(key): int(n) for key, n in rows}
    doubled, missing = 0, []
    for line in lines:
        pid = str(line.get("PaymentId", ""))
        parsed = _transaction_of(pid)
        if parsed is None:
            continue
        n = posted.get(paytrace_fact(*parsed), 0)
        doubled += n > 1
        if n == 0:
            missing.append(pid)
    return doubled, missing
