"""Sales order headers/lines and settled-invoice rows: numbers, customer defaults, relations."""

from __future__ import annotations

from decimal import Decimal

from paybridge_sandbox.dynamics.rules import (
    REGISTRY,
    EntityRules,
    RuleContext,
    Values,
    escape_display,
    not_in_related,
)
from paybridge_sandbox.dynamics.rules.journals import marked_elsewhere, open_amount
from paybridge_sandbox.dynamics.store import Row


def _order_defaults(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    company = values["dataAreaId"]
    customer = ctx.find(
        "CustomersV3", dataAreaId=company, CustomerAccount=values["OrderingCustomerAccountNumber"]
    )
    if old is None:
        if not values["SalesOrderNumber"]:
            values["SalesOrderNumber"] = ctx.number(f"{company}/SalesOrderNumber")
        values["SalesOrderStatus"] = "None"
        values["SalesOrderProcessingStatus"] = "Active"
        values["OrderCreationDateTime"] = ctx.now.replace(microsecond=0)
        for date_field in ("RequestedShippingDate", "RequestedReceiptDate"):
            if values[date_field].year == 1900:
                values[date_field] = ctx.today()
    if not values["InvoiceCustomerAccountNumber"]:
        values["InvoiceCustomerAccountNumber"] = values["OrderingCustomerAccountNumber"]
    if customer is not None:
        c = customer.values
        for target, source in (
            ("CurrencyCode", "SalesCurrencyCode"),
            ("SalesOrderName", "OrganizationName"),
            ("LanguageId", "LanguageId"),
            ("PaymentTermsName", "PaymentTerms"),
            ("CustomerPaymentMethodName", "PaymentMethod"),
        ):
            if not values[target]:
                values[target] = c[source]
    return []


def _order_validate(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    company = values["dataAreaId"]
    messages = []
    for field_name in ("OrderingCustomerAccountNumber", "InvoiceCustomerAccountNumber"):
        account = values[field_name]
        if account and ctx.find("CustomersV3", dataAreaId=company, CustomerAccount=account) is None:
            messages.append(not_in_related(account, "Customer account", "Customers"))
    if (
        values["CurrencyCode"]
        and ctx.find("Currencies", CurrencyCode=values["CurrencyCode"]) is None
    ):
        messages.append(not_in_related(values["CurrencyCode"], "Currency", "Currency"))
    return messages


def _order_delete(ctx: RuleContext, row: Row) -> list[str]:
    if row.values["SalesOrderStatus"] == "Invoiced":
        return [
            f"Warning: Sales order {row.values['SalesOrderNumber']} is invoiced and cannot "
            "be deleted."
        ]
    return []


def _line_defaults(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    company = values["dataAreaId"]
    header = ctx.find(
        "SalesOrderHeadersV2", dataAreaId=company, SalesOrderNumber=values["SalesOrderNumber"]
    )
    if old is None:
        values["InventoryLotId"] = values["InventoryLotId"] or ctx.number(
            f"{company}/InventoryLotId"
        )
        values["SalesOrderLineStatus"] = "Backorder"
        if header is not None and not values["LineNumber"]:
            lines = ctx.find_where(
                "SalesOrderLinesV3", SalesOrderNumber=values["SalesOrderNumber"], dataAreaId=company
            )
            values["LineNumber"] = (
                max((r.values["LineNumber"] for r in lines), default=Decimal(0)) + 1
            )
            values["LineCreationSequenceNumber"] = len(lines) + 1
    if header is not None:
        h = header.values
        for target, source in (
            ("CurrencyCode", "CurrencyCode"),
            ("ShippingSiteId", "DefaultShippingSiteId"),
            ("ShippingWarehouseId", "DefaultShippingWarehouseId"),
            ("RequestedShippingDate", "RequestedShippingDate"),
        ):
            if not values[target] or getattr(values[target], "year", 0) == 1900:
                values[target] = h[source]
    if not values["SalesPriceQuantity"]:
        values["SalesPriceQuantity"] = Decimal(1)
    values["LineAmount"] = (
        values["OrderedSalesQuantity"] * values["SalesPrice"] / values["SalesPriceQuantity"]
        - values["LineDiscountAmount"]
    )
    return []


def _line_validate(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    header = ctx.find(
        "SalesOrderHeadersV2",
        dataAreaId=values["dataAreaId"],
        SalesOrderNumber=values["SalesOrderNumber"],
    )
    if header is None:
        return [not_in_related(values["SalesOrderNumber"], "Sales order", "Sales orders")]
    if header.values["SalesOrderStatus"] in {"Invoiced", "Canceled"}:
        return [
            f"Warning: Sales order {values['SalesOrderNumber']} is "
            f"{header.values['SalesOrderStatus'].lower()} and cannot be changed."
        ]
    return []


def _settled_defaults(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    company = str(values["InvoiceCompany"] or values["JournalLineCompany"]).lower()
    values["InvoiceCompany"] = company
    trans = ctx.find_where("CustTransactions", Invoice=values["InvoiceNumber"], dataAreaId=company)
    if trans:
        t = trans[0].values
        if values["InvoiceDueDate"].year == 1900:
            values["InvoiceDueDate"] = t["DueDate"]
        values["invoiceAccount"] = t["AccountNum"]
        values["AccountDisplayValue"] = escape_display(t["AccountNum"])
        if not values["SettlementAmountInInvoiceCurrency"]:
            values["SettlementAmountInInvoiceCurrency"] = open_amount(ctx, trans[0])
    if not values["InvoiceToPaymentCrossRate"]:
        values["InvoiceToPaymentCrossRate"] = Decimal(1)
    return []


def _settled_validate(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    company = values["JournalLineCompany"]
    line = ctx.find(
        "CustomerPaymentJournalLines",
        dataAreaId=company,
        JournalBatchNumber=values["JournalBatchNumber"],
        LineNumber=values["JournalLineNumber"],
    )
    if line is None:
        return [not_in_related(values["JournalLineNumber"], "Line number", "Journal lines")]
    trans = ctx.find_where(
        "CustTransactions", Invoice=values["InvoiceNumber"], dataAreaId=values["InvoiceCompany"]
    )
    if not trans:
        return [f"Warning: Invoice {values['InvoiceNumber']} is not an open transaction."]
    amount = values["SettlementAmountInInvoiceCurrency"]
    remaining = open_amount(ctx, trans[0]) - marked_elsewhere(
        ctx, values["InvoiceCompany"], values["InvoiceNumber"], line.values
    )
    if amount > remaining:
        return [
            f"Warning: The amount of the invoice {amount:.2f} is greater than the remaining "
            f"amount {remaining:.2f}."
        ]
    return []


REGISTRY["SalesOrderHeadersV2"] = EntityRules(
    defaults=_order_defaults, validate=_order_validate, validate_delete=_order_delete
)
REGISTRY["SalesOrderLinesV3"] = EntityRules(defaults=_line_defaults, validate=_line_validate)
REGISTRY["PaymentJournalLineSettledInvoices"] = EntityRules(
    defaults=_settled_defaults, validate=_settled_validate
)
