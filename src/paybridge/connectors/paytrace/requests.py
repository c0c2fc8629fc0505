"""PayTrace v1 request bodies, field for field as the API names them (spec §5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer

from paybridge.connectors.paytrace.models import (
    Address,
    Amount,
    CardSecret,
    CheckAccount,
    CreditCard,
    EncryptedCreditCard,
    PayTraceRequest,
    UsDate,
)

# Quantities and rates are exact decimals too, sent as strings like amounts.
Quantity = Annotated[Decimal, PlainSerializer(lambda v: format(v, "f"), return_type=str)]
TransactionId = Annotated[int, Field(gt=0)]

# spec §5.13: recurring frequency codes.
FREQUENCIES: dict[str, str] = {
    "1": "annually", "8": "semi-annually", "A": "trimesterly", "2": "quarterly",
    "9": "bi-monthly", "3": "monthly", "4": "bi-weekly", "7": "1st and 15th",
    "5": "weekly", "6": "daily",
}  # fmt: skip
Frequency = Literal["1", "8", "A", "2", "9", "3", "4", "7", "5", "6"]


class Referenced(PayTraceRequest):
    """A money request the runtime can find again after an unknown outcome (spec §6, §10)."""

    invoice_id: str | None = Field(default=None, max_length=50)
    description: str | None = None

    @property
    def reference(self) -> str:
        """What an ambiguous outcome is looked up by: the invoice id, else the description."""
        return self.invoice_id or self.description or ""


class TransactionOptions(Referenced):
    """Optional fields every card sale, authorization and refund accepts (spec §5, §6)."""

    email: str | None = None
    customer_reference_id: str | None = Field(default=None, max_length=17)
    tax_amount: Amount | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    discretionary_data: dict[str, str] | None = None


class KeyedSaleRequest(TransactionOptions):
    """sale/keyed and authorization/keyed (amount 0.00 verifies a card on authorization)."""

    amount: Amount
    credit_card: CreditCard | EncryptedCreditCard
    csc: CardSecret | None = None
    encrypted_csc: CardSecret | None = None


KeyedAuthorizationRequest = KeyedSaleRequest


class CustomerSaleRequest(TransactionOptions):
    """sale/by_customer and authorization/by_customer: charge a vault profile."""

    customer_id: str = Field(min_length=1)
    amount: Amount
    csc: CardSecret | None = None


CustomerAuthorizationRequest = CustomerSaleRequest


class TransactionSaleRequest(TransactionOptions):
    """sale/by_transaction and authorization/by_transaction: re-charge an earlier card."""

    transaction_id: TransactionId
    amount: Amount


TransactionAuthorizationRequest = TransactionSaleRequest


class ProtectSaleRequest(TransactionOptions):
    """sale/pt_protect and authorization/pt_protect with PayTrace Protect's one-time token."""

    amount: Amount
    hpf_token: CardSecret
    enc_key: CardSecret


ProtectAuthorizationRequest = ProtectSaleRequest


class ProtectCustomerSaleRequest(ProtectSaleRequest):
    """sale/pt_protect_customer: charge a Protect token and keep the card as a new vault profile."""

    customer_id: str = Field(min_length=1)


class CaptureRequest(PayTraceRequest):
    """authorization/capture; no amount captures the authorized amount, less is partial."""

    transaction_id: TransactionId
    amount: Amount | None = None


class VoidRequest(PayTraceRequest):
    transaction_id: TransactionId


class TransactionRefundRequest(PayTraceRequest):
    """refund/for_transaction: only for settled transactions (else error 817)."""

    transaction_id: TransactionId
    amount: Amount | None = None
    invoice_id: str | None = Field(default=None, max_length=50)
    description: str | None = None

    @property
    def reference(self) -> str:
        return self.invoice_id or self.description or str(self.transaction_id)


class KeyedRefundRequest(TransactionOptions):
    amount: Amount
    credit_card: CreditCard | EncryptedCreditCard
    csc: CardSecret | None = None


class CustomerRefundRequest(TransactionOptions):
    customer_id: str = Field(min_length=1)
    amount: Amount


class AdjustRequest(PayTraceRequest):
    """transactions/adjust (path unverified, spec §13): new amount of an unsettled transaction."""

    transaction_id: TransactionId
    amount: Amount


class EmailReceiptRequest(PayTraceRequest):
    transaction_id: TransactionId
    email: str = Field(min_length=3)


class LevelThreeLineItem(PayTraceRequest):
    """One Level 3 line; the Mastercard-only fields stay None for Visa."""

    product_id: str | None = None
    description: str | None = Field(default=None, max_length=35)
    quantity: Quantity | None = None
    unit_of_measure: str | None = None
    unit_cost: Amount | None = None
    amount: Amount | None = None
    discount_amount: Amount | None = None
    additional_tax_amount: Amount | None = None
    additional_tax_rate: Quantity | None = None
    commodity_code: str | None = None
    debit_or_credit: Literal["D", "C"] | None = None
    discount_rate: Quantity | None = None
    discount_included: bool | None = None
    tax_included: bool | None = None
    additional_tax_included: bool | None = None
    merchant_tax_id: str | None = None


class LevelThreeRequest(PayTraceRequest):
    """level_three/visa and level_three/mastercard, after an unsettled sale or capture."""

    transaction_id: TransactionId
    invoice_id: str | None = None
    customer_reference_id: str | None = None
    tax_amount: Amount | None = None
    national_tax_amount: Amount | None = None
    merchant_tax_id: str | None = None
    customer_tax_id: str | None = None
    commodity_code: str | None = None
    discount_amount: Amount | None = None
    freight_amount: Amount | None = None
    duty_amount: Amount | None = None
    additional_tax_amount: Amount | None = None
    additional_tax_rate: Quantity | None = None
    additional_tax_included: bool | None = None
    source_address: Address | None = None
    shipping_address: Address | None = None
    line_items: list[LevelThreeLineItem] = Field(default_factory=list)


class CustomerCreateRequest(PayTraceRequest):
    """customer/create: a vault profile holding a card or a bank account."""

    customer_id: str = Field(min_length=1)
    credit_card: CreditCard | EncryptedCreditCard | None = None
    check: CheckAccount | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    email: str | None = None
    phone: str | None = None
    fax: str | None = None
    csc: CardSecret | None = None
    discretionary_data: dict[str, str] | None = None


class CustomerUpdateRequest(CustomerCreateRequest):
    """customer/update: same shape, keyed by customer_id; omitted fields stay as they are."""


class CustomerDeleteRequest(PayTraceRequest):
    customer_id: str = Field(min_length=1)


class CustomerExportRequest(PayTraceRequest):
    """customer/export; every filter is optional (spec §5.12)."""

    customer_id: str | None = None
    email: str | None = None
    include_bin: bool | None = None


class ProtectCustomerRequest(PayTraceRequest):
    """customer/pt_protect_create and pt_protect_update."""

    customer_id: str = Field(min_length=1)
    hpf_token: CardSecret
    enc_key: CardSecret
    billing_address: Address | None = None
    shipping_address: Address | None = None
    email: str | None = None
    phone: str | None = None
    discretionary_data: dict[str, str] | None = None


class Recurrence(PayTraceRequest):
    """The nested ``recurrence`` object of recurrence/create."""

    amount: Amount
    frequency: Frequency
    start_date: UsDate
    total_count: int = Field(default=999, ge=1, le=999)
    transaction_type: Literal["Sale", "Authorization"] = "Sale"
    description: str | None = None
    customer_receipt: bool | None = None


class RecurrenceCreateRequest(PayTraceRequest):
    customer_id: str = Field(min_length=1)
    recurrence: Recurrence


class RecurrenceChange(PayTraceRequest):
    """The nested ``recurrence`` of recurrence/update: the id plus the fields that change."""

    id: int
    amount: Amount | None = None
    frequency: Frequency | None = None
    start_date: UsDate | None = None
    total_count: int | None = Field(default=None, ge=1, le=999)
    transaction_type: Literal["Sale", "Authorization"] | None = None
    description: str | None = None
    customer_receipt: bool | None = None


class RecurrenceUpdateRequest(PayTraceRequest):
    recurrence: RecurrenceChange


class RecurrenceId(PayTraceRequest):
    id: int


class RecurrenceDeleteRequest(PayTraceRequest):
    recurrence: RecurrenceId


class RecurrenceExportRequest(PayTraceRequest):
    """recurrence/export_scheduled (path guessed, spec §13) and export_approved."""

    customer_id: str | None = None
    recurrence: RecurrenceId | None = None


class CheckSaleByAccountRequest(Referenced):
    """checks/sale/by_account and checks/hold/by_account."""

    amount: Amount
    check: CheckAccount
    billing_address: Address | None = None
    email: str | None = None


class CheckSaleByCustomerRequest(Referenced):
    """checks/sale/by_customer and checks/hold/by_customer."""

    amount: Amount
    customer_id: str = Field(min_length=1)
    email: str | None = None


class CheckManageRequest(PayTraceRequest):
    """checks/manage/fund, checks/manage/void and checks/refund/by_transaction."""

    check_transaction_id: TransactionId
    amount: Amount | None = None


class CheckExportRequest(PayTraceRequest):
    """The check export (its v1 path is not public, spec §13: ``paytrace.check_export_path``);
    dates are the merchant's local days, both inclusive, as the card export's."""

    start_date: UsDate
    end_date: UsDate
    check_transaction_id: int | None = None
    including_text: str | None = None


class ExportByIdRequest(PayTraceRequest):
    transaction_id: TransactionId


class ExportByDateRangeRequest(PayTraceRequest):
    """transactions/export/by_date_range; dates are the merchant's local days, both inclusive."""

    start_date: UsDate
    end_date: UsDate
    transaction_id: int | None = None
    transaction_type: str | None = None
    customer_id: str | None = None
    include_bin: bool | None = None
    including_text: str | None = None


class BatchesExportRequest(PayTraceRequest):
    start_date: UsDate
    end_date: UsDate


class BatchExportOneRequest(PayTraceRequest):
    """batches/export_one; no number means the latest batch."""

    batch_number: int | None = None


class BatchTransactionListRequest(PayTraceRequest):
    batch_number: int
