"""python-odata, a PyPI OData v4 client none of us wrote, reflects and drives the D365 sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from odata.enumtype import EnumTypeProperty  # type: ignore[import-untyped]
from odata.exceptions import NoResultsFound, ODataError  # type: ignore[import-untyped]
from odata.property import (  # type: ignore[import-untyped]
    DatetimeProperty,
    DecimalProperty,
    NavigationProperty,
    StringProperty,
)

from tests.integration.odata_library.conftest import PAGE_SIZE, Rig

ISSUE_ENTITY_SETS = {
    "CustomersV3", "SalesOrderHeadersV2", "SalesOrderLinesV3", "SalesInvoiceHeadersV2",
    "SalesInvoiceV2Lines", "CustomerPaymentJournalHeaders", "CustomerPaymentJournalLines",
    "PaymentJournalLineSettledInvoices", "LedgerJournalHeaders", "LedgerJournalLines",
    "CustTransactions", "CustomerPaymentMethods", "JournalNames", "BankAccounts", "MainAccounts",
    "LegalEntities", "Currencies",
}  # fmt: skip
USMF_CUSTOMERS = [f"US-{n:03d}" for n in range(1, 11)]
HEADERS, LINES = "CustomerPaymentJournalHeaders", "CustomerPaymentJournalLines"


def _keys(entity: Any) -> set[str]:
    return {prop.name for _, prop in entity.__new__(entity).__odata__.primary_key_properties}


def _new_journal(rig: Rig) -> Any:
    header = rig.entity(HEADERS)()
    header.dataAreaId = "usmf"
    header.JournalName = "CustPay"
    rig.service.save(header)
    return header


def _new_line(rig: Rig, journal: str, reference: str, customer: str = "US\\-001") -> Any:
    account = rig.enum("LedgerJournalAcType")
    line = rig.entity(LINES)()
    line.dataAreaId = "usmf"
    line.JournalBatchNumber = journal
    line.AccountType = account.Cust
    line.AccountDisplayValue = customer
    line.CurrencyCode = "USD"
    line.CreditAmount = Decimal("12.34")
    line.OffsetAccountType = account.Bank
    line.OffsetAccountDisplayValue = "USMF OPER"
    line.PaymentReference = reference
    rig.service.save(line)
    return line


def test_metadata_reflects_into_entity_classes(rig: Rig) -> None:
    assert set(rig.service.entities) >= ISSUE_ENTITY_SETS
    assert _keys(rig.entity(LINES)) == {"dataAreaId", "JournalBatchNumber", "LineNumber"}
    assert _keys(rig.entity("CustomersV3")) == {"dataAreaId", "CustomerAccount"}
    line = rig.entity(LINES)
    assert isinstance(line.LineNumber, DecimalProperty)
    assert isinstance(line.CreditAmount, DecimalProperty)
    assert isinstance(line.TransactionDate, DatetimeProperty)
    assert isinstance(line.PaymentReference, StringProperty)
    assert isinstance(line.AccountType, EnumTypeProperty)
    assert {"Cust", "Bank", "Ledger"} <= set(rig.enum("LedgerJournalAcType").__members__)
    assert [m.name for m in rig.enum("NoYes")] == ["No", "Yes"]
    navigation = rig.entity(HEADERS).CustomerPaymentJournalLineHeaderEntity
    assert isinstance(navigation, NavigationProperty)
    assert navigation.is_collection


def test_reads_follow_absolute_next_links_across_pages(rig: Rig) -> None:
    customers = rig.service.query(rig.entity("CustomersV3")).all()
    assert [c.CustomerAccount for c in customers] == USMF_CUSTOMERS  # default company only
    pages = [e for e in rig.exchanges if e.method == "GET"]
    assert len(pages) == -(-len(USMF_CUSTOMERS) // PAGE_SIZE)
    assert all(e.status == 200 for e in pages)
    links = [e.next_link for e in pages]
    assert links[-1] is None
    # F&O's nextLink is absolute, and the library fetched exactly what each one named.
    assert all(link and link.startswith(f"{rig.base_url}/data/CustomersV3?") for link in links[:-1])
    assert [e.url for e in pages[1:]] == links[:-1]
    assert rig.service.query(rig.entity("CustomersV3")).count() == len(USMF_CUSTOMERS)


def test_filtered_read_pages_through_journal_lines(rig: Rig) -> None:
    journal = _new_journal(rig).JournalBatchNumber
    for n in range(7):
        _new_line(rig, journal, f"PAGE-{n}")
    mark = len(rig.exchanges)
    lines = rig.entity(LINES)
    found = rig.service.query(lines).filter(lines.JournalBatchNumber == journal).all()
    assert sorted(line.PaymentReference for line in found) == [f"PAGE-{n}" for n in range(7)]
    assert [line.LineNumber for line in found] == [Decimal(n) for n in range(1, 8)]
    assert len(rig.since(mark)) == 3  # 3 + 3 + 1 rows


def test_create_read_update_delete_a_journal_header(rig: Rig) -> None:
    header = _new_journal(rig)
    journal = header.JournalBatchNumber
    assert journal.startswith("USMF-")  # the server's number sequence, not ours
    assert header.Description == "Customer payment"  # defaulted from the journal name
    assert header.IsPosted == rig.enum("NoYes").No
    headers = rig.entity(HEADERS)
    query = rig.service.query(headers)
    assert query.get(dataAreaId="usmf", JournalBatchNumber=journal).JournalName == "CustPay"

    header.Description = "Paid through python-odata"
    rig.service.save(header)
    patch = next(e for e in rig.exchanges if e.method == "PATCH")
    assert patch.status == 204
    assert patch.url.endswith(f"/data/{HEADERS}(JournalBatchNumber='{journal}',dataAreaId='usmf')")
    reread = query.get(dataAreaId="usmf", JournalBatchNumber=journal)
    assert reread.Description == "Paid through python-odata"

    rig.service.delete(header)
    assert [e.status for e in rig.exchanges if e.method == "DELETE"] == [204]
    with pytest.raises(NoResultsFound):
        query.get(dataAreaId="usmf", JournalBatchNumber=journal)


def test_create_read_update_delete_a_line_by_composite_key(rig: Rig) -> None:
    header = _new_journal(rig)
    line = _new_line(rig, header.JournalBatchNumber, "LIB-CRUD-1")
    assert line.LineNumber == Decimal(1)
    assert line.Voucher  # generated by the server
    assert line.CreditAmount == Decimal("12.34")
    assert line.AccountDisplayValue == "US\\-001"

    line.CreditAmount = Decimal("20.50")
    line.TransactionDate = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
    rig.service.save(line)
    lines = rig.entity(LINES)
    account = rig.enum("LedgerJournalAcType")
    found = (
        rig.service.query(lines)
        .filter(lines.PaymentReference == "LIB-CRUD-1")
        .filter(lines.AccountType == account.Cust)
        .all()
    )
    assert len(found) == 1
    assert found[0].CreditAmount == Decimal("20.5")
    assert found[0].TransactionDate == datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a date: noon UTC
    assert found[0].__odata__.id == (
        f"{LINES}(JournalBatchNumber='{header.JournalBatchNumber}',LineNumber=1,dataAreaId='usmf')"
    )

    rig.service.delete(found[0])
    rig.service.delete(header)
    assert [e.status for e in rig.exchanges if e.method == "DELETE"] == [204, 204]
    assert rig.service.query(lines).filter(lines.PaymentReference == "LIB-CRUD-1").all() == []


def test_expand_loads_a_journal_with_its_lines(rig: Rig) -> None:
    header = _new_journal(rig)
    for n in range(2):
        _new_line(rig, header.JournalBatchNumber, f"EXP-{n}")
    headers = rig.entity(HEADERS)
    expanded = (
        rig.service.query(headers)
        .filter(headers.JournalBatchNumber == header.JournalBatchNumber)
        .expand(headers.CustomerPaymentJournalLineHeaderEntity)
        .one()
    )
    lines = expanded.CustomerPaymentJournalLineHeaderEntity
    assert sorted(line.PaymentReference for line in lines) == ["EXP-0", "EXP-1"]


def test_business_errors_surface_as_library_errors(rig: Rig) -> None:
    header = _new_journal(rig)
    _new_line(rig, header.JournalBatchNumber, "LIB-ERR-1")
    with pytest.raises(ODataError) as dependent:
        rig.service.delete(header)
    assert dependent.value.status_code == "HTTP 400"
    assert (
        "cannot be deleted while dependent Journal lines exist" in dependent.value.detailed_message
    )
    with pytest.raises(ODataError) as unknown:
        _new_line(rig, header.JournalBatchNumber, "LIB-ERR-2", customer="US\\-999")
    assert unknown.value.status_code == "HTTP 400"
    assert "Account US\\-999 does not exist for account type Customer" in (
        unknown.value.detailed_message
    )
