"""Raw DTOs of the F&O entities the payment flows use, named exactly as F&O names them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from paybridge.connectors.dynamics.literals import (
    parse_edm_date,
    parse_edm_datetime,
    render_date,
    render_datetime,
    unescape_display_value,
)


def _dump_date(value: date | None) -> str | None:
    return render_date(value) if value is not None else None


def _dump_datetime(value: datetime | None) -> str | None:
    return render_datetime(value) if value is not None else None


# ``2026-07-15T12:00:00Z`` <-> date(2026, 7, 15); F&O's empty date 1900-01-01 <-> None.
FoDate = Annotated[
    date | None,
    BeforeValidator(parse_edm_date),
    PlainSerializer(_dump_date, return_type=str | None),
]
FoDateTime = Annotated[
    datetime | None,
    BeforeValidator(parse_edm_datetime),
    PlainSerializer(_dump_datetime, return_type=str | None),
]


class FoEntity(BaseModel):
    """Common shape: unknown properties kept (extensions add many), ``@odata.etag`` exposed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    entity_set: ClassVar[str] = ""
    key_fields: ClassVar[tuple[str, ...]] = ()

    odata_etag: str | None = Field(default=None, alias="@odata.etag")

    @classmethod
    def from_odata(cls, payload: dict[str, Any]) -> FoEntity:
        return cls.model_validate(payload)

    def key(self) -> dict[str, object]:
        """The entity key, ready for ``DynamicsClient.get/update/delete``."""
        return {name: getattr(self, name) for name in self.key_fields}

    def to_body(self) -> dict[str, Any]:
        """The properties that were set, as a write body (no ``@odata.*`` annotations)."""
        dumped = self.model_dump(by_alias=True, exclude_unset=True, exclude={"odata_etag"})
        return {k: v for k, v in dumped.items() if not k.startswith("@odata")}


class CustomerPaymentJournalHeader(FoEntity):
    entity_set: ClassVar[str] = "CustomerPaymentJournalHeaders"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "JournalBatchNumber")

    dataAreaId: str
    JournalBatchNumber: str | None = None
    JournalName: str | None = None
    Description: str | None = None
    OverrideSalesTax: str | None = None
    IsPosted: str | None = None


class CustomerPaymentJournalLine(FoEntity):
    entity_set: ClassVar[str] = "CustomerPaymentJournalLines"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "JournalBatchNumber", "LineNumber")

    dataAreaId: str
    JournalBatchNumber: str | None = None
    LineNumber: Decimal | None = None
    Voucher: str | None = None
    TransactionDate: FoDate = None
    AccountType: str | None = None
    AccountDisplayValue: str | None = None
    CustomerName: str | None = None
    Company: str | None = None
    OffsetCompany: str | None = None
    CurrencyCode: str | None = None
    ExchangeRate: Decimal | None = None
    CreditAmount: Decimal | None = None
    DebitAmount: Decimal | None = None
    OffsetAccountType: str | None = None
    OffsetAccountDisplayValue: str | None = None
    PaymentMethodName: str | None = None
    PaymentReference: str | None = None
    PaymentId: str | None = None
    PaymentNotes: str | None = None
    TransactionText: str | None = None
    OffsetTransactionText: str | None = None
    MarkedInvoice: str | None = None
    MarkedInvoiceCompany: str | None = None
    SettleVoucher: str | None = None
    IsPrepayment: str | None = None
    PostingProfile: str | None = None

    @property
    def customer_account(self) -> str | None:
        """``AccountDisplayValue`` without its delimiter escaping (``DAT\\-000011`` -> ``DAT-000011``)."""
        return (
            unescape_display_value(self.AccountDisplayValue) if self.AccountDisplayValue else None
        )


class CustomerV3(FoEntity):
    entity_set: ClassVar[str] = "CustomersV3"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "CustomerAccount")

    dataAreaId: str
    CustomerAccount: str | None = None
    OrganizationName: str | None = None
    NameAlias: str | None = None
    PartyNumber: str | None = None
    PartyType: str | None = None
    CustomerGroupId: str | None = None
    SalesCurrencyCode: str | None = None
    PaymentTerms: str | None = None
    PaymentMethod: str | None = None
    CreditLimit: Decimal | None = None
    OnHoldStatus: str | None = None
    InvoiceAccount: str | None = None
    LanguageId: str | None = None
    PrimaryContactEmail: str | None = None
    PrimaryContactPhone: str | None = None
    AddressStreet: str | None = None
    AddressCity: str | None = None
    AddressState: str | None = None
    AddressZipCode: str | None = None
    AddressCountryRegionId: str | None = None


class SalesOrderHeaderV2(FoEntity):
    entity_set: ClassVar[str] = "SalesOrderHeadersV2"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "SalesOrderNumber")

    dataAreaId: str
    SalesOrderNumber: str | None = None
    OrderingCustomerAccountNumber: str | None = None
    InvoiceCustomerAccountNumber: str | None = None
    CurrencyCode: str | None = None
    LanguageId: str | None = None
    SalesOrderName: str | None = None
    SalesOrderStatus: str | None = None
    SalesOrderProcessingStatus: str | None = None
    CustomersOrderReference: str | None = None
    CustomerRequisitionNumber: str | None = None
    RequestedShippingDate: FoDate = None
    RequestedReceiptDate: FoDate = None
    OrderCreationDateTime: FoDateTime = None
    PaymentTermsName: str | None = None
    CustomerPaymentMethodName: str | None = None
    OrderTotalAmount: Decimal | None = None
    OrderTotalChargesAmount: Decimal | None = None
    OrderTotalDiscountAmount: Decimal | None = None
    OrderTotalTaxAmount: Decimal | None = None


class SalesInvoiceHeaderV2(FoEntity):
    entity_set: ClassVar[str] = "SalesInvoiceHeadersV2"
    key_fields: ClassVar[tuple[str, ...]] = (
        "dataAreaId",
        "InvoiceNumber",
        "InvoiceDate",
        "LedgerVoucher",
    )

    dataAreaId: str
    InvoiceNumber: str | None = None
    InvoiceDate: FoDate = None
    LedgerVoucher: str | None = None
    SalesOrderNumber: str | None = None
    InvoiceCustomerAccountNumber: str | None = None
    CurrencyCode: str | None = None
    TotalInvoiceAmount: Decimal | None = None
    TotalTaxAmount: Decimal | None = None
    TotalChargeAmount: Decimal | None = None
    TotalDiscountAmount: Decimal | None = None
    InvoiceHeaderTaxAmount: Decimal | None = None
    PaymentTermsName: str | None = None
    CustomersOrderReference: str | None = None
    DeliveryModeCode: str | None = None


class CustTransaction(FoEntity):
    entity_set: ClassVar[str] = "CustTransactions"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "SysRecId")

    dataAreaId: str
    SysRecId: int | None = None
    AccountNum: str | None = None
    Invoice: str | None = None
    Voucher: str | None = None
    TransDate: FoDate = None
    DueDate: FoDate = None
    Closed: FoDate = None
    AmountCur: Decimal | None = None
    AmountMST: Decimal | None = None
    SettleAmountCur: Decimal | None = None
    CurrencyCode: str | None = None
    PaymReference: str | None = None
    PaymId: str | None = None
    PaymMode: str | None = None
    TransType: str | None = None
    DocumentNum: str | None = None
    Txt: str | None = None


class LedgerJournalHeader(FoEntity):
    entity_set: ClassVar[str] = "LedgerJournalHeaders"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "JournalBatchNumber")

    dataAreaId: str
    JournalBatchNumber: str | None = None
    JournalName: str | None = None
    Description: str | None = None
    AccountingCurrency: str | None = None
    IntegrationKey: str | None = None
    PostingLayer: str | None = None
    IsPosted: str | None = None
    JournalTotalDebit: Decimal | None = None
    JournalTotalCredit: Decimal | None = None


class LedgerJournalLine(FoEntity):
    entity_set: ClassVar[str] = "LedgerJournalLines"
    key_fields: ClassVar[tuple[str, ...]] = ("dataAreaId", "JournalBatchNumber", "LineNumber")

    dataAreaId: str
    JournalBatchNumber: str | None = None
    LineNumber: Decimal | None = None
    TransDate: FoDate = None
    AccountType: str | None = None
    AccountDisplayValue: str | None = None
    OffsetAccountType: str | None = None
    OffsetAccountDisplayValue: str | None = None
    Company: str | None = None
    OffsetCompany: str | None = None
    CurrencyCode: str | None = None
    ExchRate: Decimal | None = None
    DebitAmount: Decimal | None = None
    CreditAmount: Decimal | None = None
    Text: str | None = None
    OffsetText: str | None = None
    Voucher: str | None = None
    Invoice: str | None = None
    Document: str | None = None
    DocumentDate: FoDate = None
    DueDate: FoDate = None
    PaymentReference: str | None = None
    PaymentMethod: str | None = None
    PaymentId: str | None = None
    PostingProfile: str | None = None


ENTITY_TYPES: dict[str, type[FoEntity]] = {
    cls.entity_set: cls
    for cls in (
        CustomerPaymentJournalHeader,
        CustomerPaymentJournalLine,
        CustomerV3,
        SalesOrderHeaderV2,
        SalesInvoiceHeaderV2,
        CustTransaction,
        LedgerJournalHeader,
        LedgerJournalLine,
    )
}
