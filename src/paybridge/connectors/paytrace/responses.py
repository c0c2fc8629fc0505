"""PayTrace v1 response bodies and export records, tolerant of fields the API adds."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from paybridge.connectors.paytrace.models import (
    Address,
    MaskedCard,
    PayTraceResponse,
    WireDecimal,
)

MERCHANT_TZ = "America/Los_Angeles"
_LOCAL_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# A poller re-reads the day's export every poll (PayTrace exports by whole days): the same
# texts come back each time, and parsing them was a tenth of the engine's CPU per payment.
@lru_cache(maxsize=131072)
def _local_wall_time(text: str) -> datetime:
    cleaned = " ".join(text.split()).upper()
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt)  # noqa: DTZ007 - a wall time; zone by callers
        except ValueError:
            continue
    raise ValueError(f"not a PayTrace date and time: {text!r}")


def parse_merchant_time(text: str, tz: str = MERCHANT_TZ) -> datetime:
    """ "M/D/YYYY h:mm:ss AM/PM" in the merchant's zone -> aware UTC.

    An ambiguous wall time (the repeated hour when DST ends) is read as its first occurrence,
    and a skipped one (DST start) with the offset before the change: PEP 495's ``fold=0``.
    """
    return _local_wall_time(text).replace(tzinfo=_zone(tz)).astimezone(UTC)


@lru_cache(maxsize=131072)
def latest_merchant_time(text: str, tz: str = MERCHANT_TZ) -> datetime:
    """The latest instant a merchant-local time can mean (either PEP 495 fold).

    The repeated hour when DST ends is read as its second occurrence. A poller that decides
    "new since the watermark" with this never drops a row whose wall time is ambiguous, as
    reading it an hour early would put it behind the watermark and its overlap.
    """
    wall = _local_wall_time(text)
    zone = _zone(tz)
    return max(
        wall.replace(tzinfo=zone, fold=0).astimezone(UTC),
        wall.replace(tzinfo=zone, fold=1).astimezone(UTC),
    )


class TransactionResponse(PayTraceResponse):
    """Sale, authorization, capture, refund and void results (spec §5.1-5.7)."""

    transaction_id: int
    approval_code: str = ""
    approval_message: str = ""
    avs_response: str = ""
    csc_response: str = ""
    external_transaction_id: str = ""
    masked_card_number: str | None = None
    discretionary_data: dict[str, Any] | None = None


class TokenResponse(BaseModel):
    """/oauth/token success (spec §2.1); ``token_type`` is ignored: the scheme is always Bearer."""

    model_config = ConfigDict(extra="allow")

    access_token: str = Field(min_length=1)
    token_type: str = ""
    expires_in: int = 7200
    created_at: int | None = None


class CustomerResponse(PayTraceResponse):
    customer_id: str
    masked_card_number: str | None = None


class CheckResponse(PayTraceResponse):
    check_transaction_id: int | None = None
    ach_code: int | None = None
    ach_message: str = ""


class ClientKeyResponse(PayTraceResponse):
    """payment_fields/token/create: the key handed to PayTrace Protect in the browser."""

    success: bool = True
    response_code: int = 0
    clientKey: str  # PayTrace's own camelCase


class CreatedInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    through: str = ""
    at: str = ""
    by: str = ""
    from_ip: str = ""


class CheckRecord(BaseModel):
    """One check of the check export. Its v1 field names are not public (spec §13): the
    client takes the emulator's names and the legacy API's spellings, and keeps the rest."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    check_transaction_id: int = Field(
        validation_alias=AliasChoices("check_transaction_id", "check_id")
    )
    transaction_type: str = Field(
        default="", validation_alias=AliasChoices("transaction_type", "check_type")
    )
    status: str = ""
    amount: WireDecimal = None
    customer_id: str = ""
    invoice_id: str = ""
    description: str = ""
    masked_account_number: str = ""
    original_check_transaction_id: int | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "original_check_transaction_id", "parent_check_transaction_id"
        ),
    )
    created: str = ""
    funded: str = ""
    settled: str = ""
    voided: str = ""
    returned: str = ""
    ach_code: str = Field(default="", validation_alias=AliasChoices("ach_code", "return_code"))
    ach_message: str = Field(
        default="", validation_alias=AliasChoices("ach_message", "return_message")
    )

    @field_validator("original_check_transaction_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", 0, "0") else value

    @field_validator("ach_code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        return "" if value in (None, 0, "0") else str(value).strip().upper()

    def at(self, name: str, tz: str = MERCHANT_TZ) -> datetime | None:
        """``created``, ``funded``, ``settled``, ``voided`` or ``returned`` as aware UTC."""
        text = str(getattr(self, name) or "").strip()
        return parse_merchant_time(text, tz) if text else None


class CheckExportResponse(PayTraceResponse):
    checks: list[CheckRecord] = Field(default_factory=list)


class TransactionRecord(BaseModel):
    """One row of transactions/export (spec §5.10)."""

    model_config = ConfigDict(extra="allow")

    transaction_id: int
    transaction_type: str = ""
    amount: WireDecimal = None
    invoice_id: str = ""
    description: str = ""
    customer_id: str = ""
    customer_reference_id: str = ""
    status_code: str = ""
    status_message: str = ""
    approval_code: str = ""
    approval_message: str = ""
    avs_response: str = ""
    csc_response: str = ""
    credit_card: MaskedCard | None = None
    created: CreatedInfo = Field(default_factory=CreatedInfo)
    settled: str = ""
    tax_amount: WireDecimal = None
    receipt_emailed_to: str = ""
    billing_address: Address | None = None
    shipping_address: Address | None = None
    discretionary_data: dict[str, Any] | None = None

    def created_at_utc(self, tz: str = MERCHANT_TZ) -> datetime:
        return parse_merchant_time(self.created.at, tz)

    def created_at_latest(self, tz: str = MERCHANT_TZ) -> datetime:
        """The latest instant ``created`` can mean (see ``latest_merchant_time``)."""
        return latest_merchant_time(self.created.at, tz)

    def settled_at_utc(self, tz: str = MERCHANT_TZ) -> datetime | None:
        return parse_merchant_time(self.settled, tz) if self.settled.strip() else None

    @property
    def is_voided(self) -> bool:
        """Voided in PayTrace (status ``N`` with the message "Voided", spec §5.10)."""
        return self.status_message.strip().lower().startswith("void")

    @property
    def batch_number(self) -> int | None:
        """The settlement batch from status ``GB<n>``, when settled."""
        code = self.status_code.strip().upper()
        digits = code[2:] if code.startswith("GB") else ""
        return int(digits) if digits.isdigit() else None


# Records of the last export of one kind, by transaction id: (the record as it came, validated).
ExportMemo = dict[Any, tuple[dict[str, Any], TransactionRecord]]


class ExportResponse(PayTraceResponse):
    transactions: list[TransactionRecord] = Field(default_factory=list)

    @field_validator("transactions", mode="wrap")
    @classmethod
    def _remembered(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> list[TransactionRecord]:
        """With an ``ExportMemo`` as the validation context's ``"records"``: a record that comes
        back exactly as the last export of its kind gave it is not validated again (a poller
        re-reads the whole day on every poll), and the memo then holds this export's records.
        A record that differs in any way, or a new one, is validated as usual."""
        memo = info.context.get("records") if isinstance(info.context, dict) else None
        if memo is None or not isinstance(value, list):
            validated: list[TransactionRecord] = handler(value)
            return validated
        kept: list[TransactionRecord | None] = []
        fresh: list[Any] = []
        for item in value:
            hit = memo.get(_memo_key(item))
            if hit is not None and hit[0] == item:
                kept.append(hit[1])
            else:
                kept.append(None)
                fresh.append(item)
        checked = iter(handler(fresh))  # raises for a malformed record, the memo untouched
        records = [next(checked) if k is None else k for k in kept]
        memo.clear()
        for item, record in zip(value, records, strict=True):
            if (key := _memo_key(item)) is not None:
                memo[key] = (item, record)
        return records


def _memo_key(item: Any) -> Any:
    key = item.get("transaction_id") if isinstance(item, dict) else None
    return key if isinstance(key, int | str) else None


class CustomerRecord(BaseModel):
    """One vault profile from customer/export (field list partly unknown, spec §13)."""

    model_config = ConfigDict(extra="allow")

    customer_id: str
    credit_card: MaskedCard | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    email: str = ""
    phone: str = ""
    fax: str = ""
    discretionary_data: dict[str, Any] | None = None


class CustomerExportResponse(PayTraceResponse):
    customers: list[CustomerRecord] = Field(default_factory=list)


class RecurrenceRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    customer_id: str = ""
    amount: WireDecimal = None
    frequency: str = ""
    start_date: str = ""
    total_count: int | None = None
    transaction_type: str = ""
    description: str = ""


class RecurrenceResponse(PayTraceResponse):
    recurrence: RecurrenceRecord | None = None


class RecurrenceExportResponse(PayTraceResponse):
    recurrences: list[RecurrenceRecord] = Field(default_factory=list)
    recurrence: RecurrenceRecord | None = None


class BatchRecord(BaseModel):
    """A settlement batch summary; PayTrace's exact field names are unknown (spec §5.11)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    number: int = Field(validation_alias=AliasChoices("number", "batch_number"))
    when: str = Field(default="", validation_alias=AliasChoices("when", "created", "settled"))
    transaction_count: int | None = None
    net_amount: WireDecimal = None

    def settled_at_utc(self, tz: str = MERCHANT_TZ) -> datetime | None:
        return parse_merchant_time(self.when, tz) if self.when.strip() else None


class BatchesExportResponse(PayTraceResponse):
    batches: list[BatchRecord] = Field(default_factory=list)


class BatchExportOneResponse(PayTraceResponse):
    batch: BatchRecord | None = None
