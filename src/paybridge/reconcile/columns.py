"""Column stores of the three inputs of matching: compact arrays and interned strings.

A million rows as pydantic objects or dicts would cost gigabytes; as arrays of machine integers
they cost tens of megabytes, and the matcher (polars, over these very buffers) compares integers
instead of strings. Rows come one at a time (``add``/``extend``, what the loaders read) or a page
of columns at a time (``extend_page``: a polars or Arrow page, converted vectorised: ten million
rows stream in without a Python object per row). Amounts are kept as exact integers of the
currency's minor unit (cents): converted from ``Decimal`` once, on the way in, and back to
``Decimal`` on the way out; never a float. Low-cardinality texts (currency, customer, account,
journal, brand) are interned ``Codes``; invoice numbers, nearly one per row, stay texts.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl
import pyarrow as pa

from paybridge.model import currency_exponent
from paybridge.reconcile.vectors import (
    Texts,
    append,
    coded,
    minor_units,
    page_frame,
    series,
    whole_numbers,
)

# Kind codes; a D365 line whose PaymentId does not name a kind gets UNKNOWN. ``return`` is an
# ACH check sent back by the customer's bank (a debit, like a refund).
KINDS = (
    "sale", "capture", "refund", "void", "authorization", "settlement", "decline", "?", "return",
)  # fmt: skip
KIND_CODE = {name: code for code, name in enumerate(KINDS)}
SALE, CAPTURE, REFUND, VOID = 0, 1, 2, 3
UNKNOWN = 7
RETURN = 8
KEY_SPACE = 16  # join key = transaction id * KEY_SPACE + kind code
NO_TX = -1
ACH = "ACH"  # a PayTrace check's id in D365 (``keys.check_transaction_id``): ACH<check id>


def debit_kind(kind: pl.Series) -> pl.Series:
    """Whether each kind code is one that takes money back (refund, ACH return): a debit."""
    return (kind == REFUND) | (kind == RETURN)


def check_tx(check_id: int) -> int:
    """A PayTrace check (ACH) as a transaction of the columns: checks are numbered apart from
    card transactions, so they take the negative ids below ``NO_TX`` (check 1 is -2)."""
    return NO_TX - check_id


def transaction_text(tx: int) -> str:
    """A column transaction id as PayTrace and D365's PaymentReference name it."""
    return f"{ACH}{NO_TX - tx}" if tx < NO_TX else str(tx)


class Codes:
    """Interns strings as small ints shared by all columns, so comparisons are int equality.

    Codes are of the text as received; ``same`` also compares them as F&O does (case-insensitive,
    without display escaping), folding each code once, only when the raw texts differ.
    """

    def __init__(self) -> None:
        self.values: list[str] = [""]
        self.index: dict[str, int] = {"": 0}
        self._folded: dict[int, int] = {}

    def code(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.values)
            self.values.append(text)
        return found

    def find(self, text: str) -> int | None:
        return self.index.get(text)

    def text(self, code: int) -> str:
        return self.values[code]

    def fold(self, code: int) -> int:
        folded = self._folded.get(code)
        if folded is None:
            folded = self._folded[code] = self.code(norm(self.values[code]))
        return folded

    def same(self, a: int, b: int) -> bool:
        return a == b or self.fold(a) == self.fold(b)


def norm(text: str | None) -> str:
    """Compare D365 identifiers as F&O does: case-insensitively, without display escaping."""
    return (text or "").replace("\\", "").strip().casefold()


def to_minor(amount: Decimal, exponent: int) -> int:
    """An amount as an exact integer of minor units (banker's rounding below the minor unit)."""
    return int(amount.scaleb(exponent).to_integral_value(ROUND_HALF_EVEN))


def from_minor(minor: int, currency: str) -> Decimal:
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


class _Scales(dict[str, tuple[Decimal, int]]):
    """Currency -> (10 ** exponent as a Decimal, exponent), looked up once per currency."""

    def __missing__(self, currency: str) -> tuple[Decimal, int]:
        exponent = currency_exponent(currency)
        self[currency] = (Decimal(10) ** exponent, exponent)
        return self[currency]


def _minor(amount: Decimal, scale: Decimal) -> int:
    shifted = amount * scale
    whole = int(shifted)
    return whole if whole == shifted else int(shifted.to_integral_value(ROUND_HALF_EVEN))


# (id, kind, positive amount, currency, customer, invoice, batch, brand)
PayTraceRow = tuple[int, str, Decimal, str, str, str, int, str]
# (PaymentId, PaymentReference, credit, debit, currency, account, marked invoice, journal, line)
D365Row = tuple[str, str, Decimal, Decimal, str, str, str, str, "Decimal | int"]
_MONEY_KINDS = {"sale": SALE, "capture": CAPTURE, "refund": REFUND, "return": RETURN}
PAYTRACE_PAGE = ("tx", "kind", "amount", "currency", "customer", "invoice", "batch", "brand")
D365_PAGE = (
    "payment_id", "reference", "credit", "debit", "currency", "account", "invoice", "journal",
    "line",
)  # fmt: skip
_PT_ADJUST = r"^PT-[0-9]+-adjust$"
# A transaction id as PayBridge writes it in PaymentReference (int64, no leading zero).
_PLAIN_NUMBER = r"^[1-9][0-9]{0,17}$"


@dataclass
class PayTraceColumns:
    """The settled PayTrace transactions of the day, one row each (their one money fact)."""

    codes: Codes
    tx: array[int] = field(default_factory=lambda: array("q"))
    kind: array[int] = field(default_factory=lambda: array("b"))
    minor: array[int] = field(default_factory=lambda: array("q"))
    currency: array[int] = field(default_factory=lambda: array("i"))
    customer: array[int] = field(default_factory=lambda: array("i"))
    invoice: Texts = field(default_factory=Texts)
    batch: array[int] = field(default_factory=lambda: array("q"))
    brand: array[int] = field(default_factory=lambda: array("i"))
    _scales: _Scales = field(default_factory=_Scales)

    def __len__(self) -> int:
        return len(self.tx)

    def add(
        self,
        tx: int,
        kind: str,
        amount: Decimal,
        currency: str,
        customer: str,
        invoice: str,
        batch: int,
        brand: str = "other",
    ) -> int:
        """Append one settled transaction; ``amount`` is positive, ``kind`` sale, capture,
        refund or (ACH, ``check_tx`` ids) return."""
        self.extend([(tx, kind, amount, currency, customer, invoice, batch, brand)])
        return len(self.tx) - 1

    def extend(self, rows: Iterable[PayTraceRow]) -> None:
        """Append many rows; one tight loop, since a day may hold a million transactions."""
        get, code, scales = self.codes.index.get, self.codes.code, self._scales
        tx_, kind_, minor_, cur_ = (
            self.tx.append,
            self.kind.append,
            self.minor.append,
            self.currency.append,
        )
        cust_, inv_, batch_, brand_ = (
            self.customer.append,
            self.invoice.append,
            self.batch.append,
            self.brand.append,
        )
        for tx, kind, amount, currency, customer, invoice, batch, brand in rows:
            kind_code = _MONEY_KINDS.get(kind)
            if kind_code is None:
                raise ValueError(
                    f"a settled PayTrace money fact is a sale, capture, refund or return, "
                    f"not {kind}"
                )
            tx_(tx)
            kind_(kind_code)
            minor_(_minor(amount, scales[currency][0]))
            cur_(get(currency) or code(currency))
            cust_(get(customer) or code(customer))
            inv_(invoice)
            batch_(batch)
            brand_(get(brand) or code(brand))

    def extend_page(self, page: pl.DataFrame | pa.RecordBatch | pa.Table) -> None:
        """Append a page of columns: ``tx``, ``kind``, ``amount`` (Decimal), ``currency``,
        ``customer``, ``invoice``, ``batch`` and optionally ``brand``; vectorised, row order kept."""
        frame = page_frame(page, PAYTRACE_PAGE[:-1])
        kinds = frame["kind"].replace_strict(_MONEY_KINDS, default=None, return_dtype=pl.Int8)
        if kinds.null_count():
            kind = frame["kind"].filter(kinds.is_null())[0]
            raise ValueError(
                f"a settled PayTrace money fact is a sale, capture, refund or return, not {kind}"
            )
        code = self.codes.code
        append(self.tx, frame["tx"])
        append(self.kind, kinds)
        append(self.minor, minor_units(frame["amount"], frame["currency"]))
        append(self.currency, coded(frame["currency"], code))
        append(self.customer, coded(frame["customer"], code))
        self.invoice.extend(frame["invoice"])
        append(self.batch, frame["batch"])
        brands = (
            frame["brand"]
            if "brand" in frame.columns
            else pl.repeat("other", len(frame), eager=True)
        )
        append(self.brand, coded(brands, code))


@dataclass
class D365Columns:
    """Customer payment journal lines in scope, one row each.

    ``tx``/``kind`` come from a PayBridge ``PaymentId`` (``PT-<id>-<kind>``) or, failing that, a
    numeric ``PaymentReference`` with an UNKNOWN kind. Rows whose ids do not read back exactly
    keep their original text in ``odd_ids``.
    """

    codes: Codes
    tx: array[int] = field(default_factory=lambda: array("q"))
    kind: array[int] = field(default_factory=lambda: array("b"))
    credit: array[int] = field(default_factory=lambda: array("q"))
    debit: array[int] = field(default_factory=lambda: array("q"))
    currency: array[int] = field(default_factory=lambda: array("i"))
    account: array[int] = field(default_factory=lambda: array("i"))
    invoice: Texts = field(default_factory=Texts)
    journal: array[int] = field(default_factory=lambda: array("i"))
    line: array[int] = field(default_factory=lambda: array("q"))
    posted: bytearray = field(default_factory=bytearray)
    odd_ids: dict[int, tuple[str, str]] = field(default_factory=dict)
    _scales: _Scales = field(default_factory=_Scales)
    # (transaction, minor delta, the line as read): folded in by ``mark_posted``
    _adjusts: list[tuple[int, int, D365Row]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tx)

    def add(
        self,
        payment_id: str,
        reference: str,
        credit: Decimal,
        debit: Decimal,
        currency: str,
        account: str,
        marked_invoice: str,
        journal: str,
        line_number: Decimal | int,
    ) -> int:
        row = (
            payment_id,
            reference,
            credit,
            debit,
            currency,
            account,
            marked_invoice,
            journal,
            line_number,
        )
        self.extend([row])
        return len(self.tx) - 1

    def extend(self, rows: Iterable[D365Row]) -> None:
        """Append many lines (``posted`` comes later, from the headers: ``mark_posted``)."""
        get, code, scales, odd = self.codes.index.get, self.codes.code, self._scales, self.odd_ids
        tx_, kind_, credit_, debit_ = (
            self.tx.append,
            self.kind.append,
            self.credit.append,
            self.debit.append,
        )
        cur_, acct_, inv_, jour_ = (
            self.currency.append,
            self.account.append,
            self.invoice.append,
            self.journal.append,
        )
        line_, posted_ = self.line.append, self.posted.append
        row = len(self.tx)
        kinds = KIND_CODE.get
        for (
            payment_id,
            reference,
            credit,
            debit,
            currency,
            account,
            invoice,
            journal,
            number,
        ) in rows:
            # _read_ids inlined for the common PayBridge PaymentId: this loop runs a million times.
            head, _, kind_name = payment_id[3:].rpartition("-")
            kind = kinds(kind_name)
            if payment_id[:3] == "PT-" and kind is not None and head.isdigit():
                tx_(int(head))
                kind_(kind)
                if head != reference or head[0] == "0" or not head.isascii():
                    odd[row] = (payment_id, reference)
            elif payment_id[:3] == "PT-" and kind_name == "adjust" and head.isdigit():
                # PayBridge's line for a PayTrace adjust: part of its sale's or capture's amount.
                scale = scales[currency][0]
                delta = (_minor(credit, scale) if credit else 0) - (
                    _minor(debit, scale) if debit else 0
                )
                self._adjusts.append(
                    (
                        int(head),
                        delta,
                        (
                            f"PT-{head}-?",
                            reference,
                            credit,
                            debit,
                            currency,
                            account,
                            invoice,
                            journal,
                            number,
                        ),
                    )
                )
                continue
            else:
                tx, kind, exact = _read_ids(payment_id, reference)
                tx_(tx)
                kind_(kind)
                if not exact:
                    odd[row] = (payment_id, reference)
            scale = scales[currency][0]
            credit_(_minor(credit, scale) if credit else 0)
            debit_(_minor(debit, scale) if debit else 0)
            cur_(get(currency) or code(currency))
            acct_(get(account) or code(account))
            inv_(invoice)
            jour_(get(journal) or code(journal))
            whole = int(number)
            line_(whole if whole == number else -1)
            posted_(0)
            row += 1

    def extend_page(self, page: pl.DataFrame | pa.RecordBatch | pa.Table) -> None:
        """Append a page of columns: ``payment_id``, ``reference``, ``credit``, ``debit``
        (Decimal), ``currency``, ``account``, ``invoice``, ``journal``, ``line``; vectorised.

        PayBridge's own ids (``PT-<reference>-<kind>``) are read vectorised (``_page_ids``); the
        rest (hand-keyed lines, references only, odd references) and adjust lines go through the
        row path's rules.
        """
        frame = page_frame(page, D365_PAGE)
        texts = {n: frame[n].cast(pl.String).fill_null("") for n in ("payment_id", "reference")}
        adjust = texts["payment_id"].str.ends_with("-adjust")
        adjust = adjust & texts["payment_id"].str.contains(_PT_ADJUST) if adjust.any() else adjust
        if adjust.any():
            self._take_adjusts(frame.filter(adjust))
            frame = frame.filter(~adjust)
            texts = {n: t.filter(~adjust) for n, t in texts.items()}
        ids = _page_ids(texts["payment_id"], texts["reference"])
        start = len(self.tx)
        append(self.tx, ids["tx"])
        append(self.kind, ids["kind"])
        for at in ids["odd"].arg_true().to_list():
            payment_id, reference = texts["payment_id"][at], texts["reference"][at]
            self.tx[start + at], self.kind[start + at], exact = _read_ids(payment_id, reference)
            if not exact:
                self.odd_ids[start + at] = (payment_id, reference)
        code = self.codes.code
        append(self.credit, minor_units(frame["credit"], frame["currency"]))
        append(self.debit, minor_units(frame["debit"], frame["currency"]))
        append(self.currency, coded(frame["currency"], code))
        append(self.account, coded(frame["account"], code))
        self.invoice.extend(frame["invoice"])
        append(self.journal, coded(frame["journal"], code))
        append(self.line, whole_numbers(frame["line"]))
        self.posted.extend(bytes(len(frame)))

    def _take_adjusts(self, frame: pl.DataFrame) -> None:
        minor = minor_units(frame["credit"], frame["currency"]) - minor_units(
            frame["debit"], frame["currency"]
        )
        for row, delta in zip(frame.iter_rows(named=True), minor, strict=True):
            head = str(row["payment_id"])[3:].rpartition("-")[0]
            line = (
                f"PT-{head}-?", str(row["reference"] or ""), row["credit"] or Decimal(0),
                row["debit"] or Decimal(0), str(row["currency"] or ""), str(row["account"] or ""),
                str(row["invoice"] or ""), str(row["journal"] or ""), row["line"],
            )  # fmt: skip
            self._adjusts.append((int(head), int(delta), line))

    def mark_posted(self, posted_journals: set[str]) -> None:
        """Set ``posted`` from the journal headers, once they are known (after the lines);
        adjust lines are folded into their sale's or capture's amount then."""
        codes = [c for c in (self.codes.find(j) for j in posted_journals) if c is not None]
        posted = series(self.journal).is_in(pl.Series(codes, dtype=pl.Int32).implode())
        self.posted = bytearray()
        append(self.posted, posted)
        self._fold_adjusts()

    def _fold_adjusts(self) -> None:
        """An adjust line (``PT-<id>-adjust``) moves its transaction's credited amount: the
        settled PayTrace amount is compared with the sale (or capture) line plus its adjust."""
        if not self._adjusts:
            return
        rows = self._credited_rows([tx for tx, _delta, _line in self._adjusts])
        orphans: list[D365Row] = []
        for tx, delta, line in self._adjusts:
            row = rows.get(tx)
            if row is None:  # an adjust without its sale in scope: shown as an unexplained line
                orphans.append(line)
            else:
                self.credit[row] += delta
        self._adjusts.clear()
        self.extend(orphans)

    def _credited_rows(self, wanted: list[int]) -> dict[int, int]:
        """Transaction -> its (last) sale or capture line, for the transactions in ``wanted``.

        A function of its own: the polars views of the columns end with it, so the columns
        may grow again (``extend`` refuses to resize an array whose buffer is viewed)."""
        credited = series(self.kind).is_in([KIND_CODE["sale"], KIND_CODE["capture"]])
        found = pl.DataFrame({"tx": series(self.tx), "credited": credited}).with_row_index("row")
        found = found.filter(pl.col("credited") & pl.col("tx").is_in(wanted))
        return dict(zip(found["tx"].to_list(), found["row"].to_list(), strict=True))

    def transactions_besides(self, pt: PayTraceColumns) -> set[int]:
        """Card transactions the lines name that are not among ``pt``'s rows (vectorised: a
        day's lines may number millions, the others a handful). Checks are left out: their
        states come from the check export."""
        tx = series(self.tx)
        named = tx.filter((tx >= 0) & ~tx.is_in(series(pt.tx).implode())).unique()
        return set(named.to_list())

    def payment_id(self, row: int) -> str:
        odd = self.odd_ids.get(row)
        return odd[0] if odd else f"PT-{transaction_text(self.tx[row])}-{KINDS[self.kind[row]]}"

    def reference(self, row: int) -> str:
        odd = self.odd_ids.get(row)
        return odd[1] if odd else transaction_text(self.tx[row])


def _page_ids(payment_id: pl.Series, reference: pl.Series) -> pl.DataFrame:
    """``tx``, ``kind`` and ``odd`` of a page of lines: PayBridge's own PaymentId is
    ``PT-<reference>-<kind>`` with a plain number for reference, read without a regular
    expression; the other rows (``odd``: -1 and UNKNOWN here) go through ``_read_ids``."""
    pid, ref = pl.col("payment_id"), pl.col("reference")
    frame = pl.DataFrame({"payment_id": payment_id, "reference": reference}).with_columns(
        code=pid.str.slice(ref.str.len_bytes() + 4).replace_strict(
            KIND_CODE, default=None, return_dtype=pl.Int8
        )
    )
    # Step by step: an eager select would compute a sub-expression once per use.
    plain = frame.select(
        ref.str.contains(_PLAIN_NUMBER)
        & pid.str.starts_with(pl.lit("PT-") + ref + pl.lit("-"))
        & pl.col("code").is_not_null()
    ).to_series()
    return frame.select(
        tx=pl.when(plain).then(ref.cast(pl.Int64, strict=False)).otherwise(NO_TX),
        kind=pl.when(plain).then(pl.col("code")).otherwise(UNKNOWN).cast(pl.Int8),
        odd=~plain,
    )


def _read_ids(payment_id: str, reference: str) -> tuple[int, int, bool]:
    """(transaction, kind, whether PaymentId and PaymentReference read back exactly).

    A check's ids (``PT-ACH<id>-<kind>``, reference ``ACH<id>``) read as ``check_tx``."""
    if payment_id[:3] == "PT-":
        head, _, kind = payment_id[3:].rpartition("-")
        code = KIND_CODE.get(kind)
        tx = _transaction(head)
        if code is not None and tx is not None:
            return tx, code, head == reference and transaction_text(tx) == head
    tx = _transaction(reference.strip())
    return (NO_TX, UNKNOWN, False) if tx is None else (tx, UNKNOWN, False)


def _transaction(text: str) -> int | None:
    """A card transaction id (digits) or a check's (``ACH`` and digits) as a column id."""
    if text.isdigit():  # int() reads any digits; a non-ASCII one never reads back exactly
        return int(text)
    number = text[len(ACH) :]
    if text[: len(ACH)] == ACH and number.isdigit() and number.isascii():
        return check_tx(int(number))
    return None


@dataclass
class LedgerColumns:
    """What PayBridge itself posted: (transaction, kind) -> the D365 line it recorded."""

    codes: Codes
    tx: array[int] = field(default_factory=lambda: array("q"))
    kind: array[int] = field(default_factory=lambda: array("b"))
    journal: array[int] = field(default_factory=lambda: array("i"))
    line: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.tx)

    def add(self, tx: int, kind: str, journal: str, line_number: int) -> None:
        self.tx.append(tx)
        self.kind.append(KIND_CODE.get(kind, UNKNOWN))
        self.journal.append(self.codes.code(journal))
        self.line.append(line_number)

    def add_entity_id(self, event_key: str, entity_id: str) -> bool:
        """From a ledger entry: key ``paytrace:[<account>/]<id>:<kind>`` (a check's id is
        ``ACH<id>``), entity ``company/journal/line``."""
        parts = event_key.split(":")
        journal, _, line = entity_id.partition("/")[2].rpartition("/")
        try:
            number = Decimal(line)
        except ArithmeticError:
            return False
        tx = _transaction(parts[1].rpartition("/")[2]) if len(parts) >= 3 else None
        if tx is None or not journal or number % 1:
            return False
        self.add(tx, parts[2], journal, int(number))
        return True
