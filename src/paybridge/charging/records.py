"""The ``charges`` rows and what binds a key to a request: the request model, key rules, claims, settling.

Statuses of a charge row:

    pending    someone is charging it now (a repeat answers "in progress")
    approved   final; the answer is replayed (201)
    declined   final; the answer is replayed (402)
    in_doubt   PayTrace did not answer; the runtime looks it up (``charge.resolve`` topic)
    open       nothing was charged (refused, or PayTrace confirmed absent); the same request may
               try again
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from paybridge.charging.charge_once import APPROVED as APPROVED
from paybridge.charging.charge_once import DECLINED as DECLINED
from paybridge.clock import Clock
from paybridge.errors import DataError, PayBridgeError
from paybridge.security.cardguard import find_card_numbers
from paybridge.store.schema_charges import charges

PENDING, IN_DOUBT, OPEN = "pending", "in_doubt", "open"  # APPROVED, DECLINED: a charge's outcomes
FINAL = frozenset({APPROVED, DECLINED})
# URL-safe, so that ``GET /v1/charges/{key}`` can name any key (UUIDs, order ids, ULIDs...).
_KEY = re.compile(r"^[A-Za-z0-9._:~+=@-]{1,100}$")


class ChargeRequest(BaseModel):
    """What a caller asks to charge: one D365 document of one company, all of it or ``amount``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    company: str = Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9]+$")
    invoice_number: str | None = Field(default=None, min_length=1, max_length=50)
    sales_order_number: str | None = Field(default=None, min_length=1, max_length=50)
    amount: Decimal | None = Field(
        default=None, gt=0, max_digits=12, decimal_places=2,
        description='Decimal string such as "12.30"; the open amount when left out.',
    )  # fmt: skip
    mode: Literal["sale", "authorization"] = "sale"
    tender: Literal["card", "ach"] = Field(
        default="card",
        description="card: the customer's card on file; ach: the bank account on file (a "
        "PayTrace check sale, or a hold in authorization mode).",
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float | bool):
            raise ValueError('send the amount as a decimal string such as "12.30"')
        return value

    @model_validator(mode="after")
    def _one_document(self) -> ChargeRequest:
        if (self.invoice_number is None) == (self.sales_order_number is None):
            raise ValueError("give exactly one of invoice_number and sales_order_number")
        return self

    @property
    def document_field(self) -> str:
        return "invoice_number" if self.invoice_number is not None else "sales_order_number"

    def canonical(self) -> dict[str, Any]:
        """The body as compared between repeats of one key (case and zeros do not matter)."""
        amount = None if self.amount is None else format(self.amount.quantize(Decimal("0.01")))
        return {
            "company": self.company.lower(),
            "invoice_number": self.invoice_number,
            "sales_order_number": self.sales_order_number,
            "amount": amount,
            "mode": self.mode,
            **({"tender": self.tender} if self.tender != "card" else {}),
        }

    def fingerprint(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class IdempotencyConflict(PayBridgeError):
    """The key belongs to another request body, or its charge is being made right now (409)."""

    reaction = "reject"

    def __init__(self, message: str, *, in_progress: bool) -> None:
        super().__init__(message, operation="charge", status=409)
        self.in_progress = in_progress


def check_key(key: str) -> str:
    """An idempotency key: 1-100 visible ASCII characters, never anything like a card number."""
    if not _KEY.match(key):
        raise DataError(
            "invalid Idempotency-Key",
            fields={"Idempotency-Key": "1 to 100 of A-Z a-z 0-9 . _ : ~ + = @ -"},
        )
    if find_card_numbers(key):
        raise DataError(
            "invalid Idempotency-Key",
            fields={"Idempotency-Key": "must not look like a card number"},
        )
    return key


def charge_event_key(key: str) -> str:
    return f"charge:{key}"


def charge_reference(key: str) -> str:
    """The head of the charge's PayTrace ``description``: what an in-doubt charge is searched by."""
    return f"PayBridge charge {key}"


@dataclass(frozen=True)
class ChargeRecord:
    key: str
    fingerprint: str
    status: str
    request: dict[str, Any]
    outcome: dict[str, Any]
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class ChargeRecords:
    """The ``charges`` rows: claim a key, settle it, give it back."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, key: str) -> ChargeRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(charges).where(charges.c.idempotency_key == key)
            ).mappings().first()  # fmt: skip
        return None if row is None else _record(row)

    def recent(
        self,
        status: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> list[ChargeRecord]:
        """The newest charges first (of ``status`` only, when given): the console's list, a page
        at a time. ``before`` is the (updated_at, key) of the last row of the previous page: the
        page holds what comes after it in (updated_at, key) descending order, so rows written
        meanwhile never shift a page. Each status is read through its index, then merged."""
        statuses = [status] if status is not None else sorted({*FINAL, PENDING, IN_DOUBT, OPEN})
        rows = []
        with self.engine.connect() as conn:
            for one in statuses:
                query = select(charges).where(charges.c.status == one)
                if before is not None:
                    at, key = before
                    query = query.where(
                        (charges.c.updated_at < at)
                        | ((charges.c.updated_at == at) & (charges.c.idempotency_key < key))
                    )
                query = query.order_by(
                    charges.c.updated_at.desc(), charges.c.idempotency_key.desc()
                ).limit(limit)
                rows += [_record(row) for row in conn.execute(query).mappings()]
        return sorted(rows, key=lambda r: (r.updated_at, r.key), reverse=True)[:limit]

    def claim(self, key: str, request: ChargeRequest) -> tuple[ChargeRecord, bool]:
        """The key's row, and whether this caller now holds it (``pending``) to charge."""
        now = self.clock.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(charges).values(
                        idempotency_key=key, fingerprint=request.fingerprint(), status=PENDING,
                        request=json.dumps(request.canonical()), outcome="{}", attempts=1,
                        created_at=now, updated_at=now, sent_at=None,
                    )
                )  # fmt: skip
            claimed = True
        except IntegrityError:
            claimed = False
        record = self.get(key)
        assert record is not None
        if record.fingerprint != request.fingerprint():
            raise IdempotencyConflict(
                "this Idempotency-Key was used with a different request", in_progress=False
            )
        if not claimed and record.status == OPEN:
            claimed = self._move(record, PENDING, attempts=record.attempts + 1)
            record = self.get(key) or record
        return record, claimed

    def _move(self, record: ChargeRecord, status: str, **values: Any) -> bool:
        """Compare-and-set on (status, attempts): of two actors only one moves the row."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(charges)
                .where(
                    charges.c.idempotency_key == record.key,
                    charges.c.status == record.status,
                    charges.c.attempts == record.attempts,
                )
                .values(status=status, updated_at=self.clock.now(), **values)
            )
        return result.rowcount == 1

    def mark_sent(self, key: str) -> None:
        with self.engine.begin() as conn:
            now = self.clock.now()
            conn.execute(
                update(charges)
                .where(charges.c.idempotency_key == key)
                .values(sent_at=now, updated_at=now)
            )

    def settle(self, conn: Connection, key: str, status: str, outcome: dict[str, Any]) -> bool:
        """Record a final or in-doubt outcome, unless a final one is recorded already."""
        result = conn.execute(
            update(charges)
            .where(charges.c.idempotency_key == key, charges.c.status.not_in(list(FINAL)))
            .values(
                status=status,
                outcome=json.dumps(outcome, default=str, sort_keys=True),
                updated_at=self.clock.now(),
            )
        )
        return result.rowcount == 1

    def stale(self, before: datetime, limit: int = 100) -> list[ChargeRecord]:
        """Pending rows untouched since ``before``: their process died while charging."""
        with self.engine.connect() as conn:
            keys = conn.execute(
                select(charges.c.idempotency_key)
                .where(charges.c.status == PENDING, charges.c.updated_at < before)
                .order_by(charges.c.updated_at)
                .limit(limit)
            ).scalars().all()  # fmt: skip
        return [record for key in keys if (record := self.get(key)) is not None]

    def release(self, record: ChargeRecord, reason: str) -> bool:
        """Nothing was charged: the key is open again for the same request."""
        return self._move(record, OPEN, outcome=json.dumps({"reason": reason}))


def _record(row: Any) -> ChargeRecord:
    return ChargeRecord(
        key=row["idempotency_key"], fingerprint=row["fingerprint"], status=row["status"],
        request=json.loads(row["request"]), outcome=json.loads(row["outcome"]),
        attempts=row["attempts"], created_at=row["created_at"], updated_at=row["updated_at"],
        sent_at=row["sent_at"],
    )  # fmt: skip
