"""Journal business logic: customer payment and general journal headers and lines, and marked
invoice settlement (``MarkedInvoice`` and ``PaymentJournalLineSettledInvoices``).

Messages are the real F&O texts where known ("Ledger journal table cannot be deleted while
dependent Journal lines exist.", "The amount of the invoice ... is greater than the remaining
amount ..."); the posted-journal and journal-type texts are sandbox wording.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paybridge_sandbox.dynamics.rules import (
    REGISTRY,
    EntityRules,
    RuleContext,
    Values,
    escape_display,
    not_in_related,
    split_display,
)
from paybridge_sandbox.dynamics.store import Row

HEADER_OF = {
    "CustomerPaymentJournalLines": "CustomerPaymentJournalHeaders",
    "LedgerJournalLines": "LedgerJournalHeaders",
}
JOURNAL_TYPE = {
    "CustomerPaymentJournalHeaders": ("CustPayment", "Customer payment"),
    "LedgerJournalHeaders": ("Daily", "Daily"),
}


def posted_message(batch: str) -> str:
    return f"Warning: Journal {batch} has been posted and cannot be changed."


# ---- headers ---------------------------------------------------------------------------------


def _header_defaults(entity_set: str) -> Any:
    def defaults(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
        company = values["dataAreaId"]
        if old is None:
            if not values["JournalBatchNumber"]:
                values["JournalBatchNumber"] = ctx.number(f"{company}/JournalBatchNumber")
            values["IsPosted"] = "No"
        name = ctx.find("JournalNames", dataAreaId=company, Name=values["JournalName"])
        if name is not None and not values["Description"]:
            values["Description"] = name.values["Description"]
        if name is not None and "PostingLayer" in values and old is None:
            values["PostingLayer"] = name.values["PostingLayer"]
        return []

    return defaults


def _header_validate(entity_set: str) -> Any:
    wanted, wanted_label = JOURNAL_TYPE[entity_set]

    def validate(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
        if old is not None and old.values["IsPosted"] == "Yes":
            return [posted_message(values["JournalBatchNumber"])]
        journal = values["JournalName"]
        name = ctx.find("JournalNames", dataAreaId=values["dataAreaId"], Name=journal)
        if name is None:
            # F&O's relation check runs in validateField, so its Infolog names the field next.
            aot = ctx.store.table(entity_set).entity.aot_name
            return [
                not_in_related(journal, "Name", "Journal names"),
                f"Warning: validateField failed on field '{aot}.JournalName'.",
            ]
        if name.values["Type"] != wanted:
            return [f"Warning: Journal name {journal} is not of the journal type {wanted_label}."]
        return []

    return validate


def _header_delete(entity_set: str) -> Any:
    line_set = next(lines for lines, header in HEADER_OF.items() if header == entity_set)

    def validate_delete(ctx: RuleContext, row: Row) -> list[str]:
        if row.values["IsPosted"] == "Yes":
            return [posted_message(row.values["JournalBatchNumber"])]
        if ctx.find_where(
            line_set,
            JournalBatchNumber=row.values["JournalBatchNumber"],
            dataAreaId=row.values["dataAreaId"],
        ):
            return [
                "Warning: Ledger journal table cannot be deleted while dependent Journal "
                "lines exist."
            ]
        return []

    return validate_delete


# ---- lines -----------------------------------------------------------------------------------


def header_of(ctx: RuleContext, line_set: str, values: Values) -> Row | None:
    return ctx.find(
        HEADER_OF[line_set],
        dataAreaId=values["dataAreaId"],
        JournalBatchNumber=values["JournalBatchNumber"],
    )


def _line_defaults(line_set: str) -> Any:
    names = _LINE_NAMES[line_set]

    def defaults(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
        header = header_of(ctx, line_set, values)
        if header is None:
            return []
        company = values["dataAreaId"]
        jname = ctx.find("JournalNames", dataAreaId=company, Name=header.values["JournalName"])
        if old is None:
            if not values["LineNumber"] and ctx.settings.journal_line_numbers == "require":
                return ["Warning: Field 'Line Number' must be filled in."]
            _new_line_defaults(ctx, line_set, values, header, jname)
        _resolve_account(ctx, values, names)
        if names.get("settle"):
            values["SettleVoucher"] = "SelectedTransact" if values["MarkedInvoice"] else "None"
            if values["MarkedInvoice"] and not values["MarkedInvoiceCompany"]:
                values["MarkedInvoiceCompany"] = company
        return []

    return defaults


def _new_line_defaults(
    ctx: RuleContext, line_set: str, values: Values, header: Row, jname: Row | None
) -> None:
    names = _LINE_NAMES[line_set]
    company = values["dataAreaId"]
    values["LineNumber"] = next_line_number(ctx, line_set, values)
    if not values["Voucher"]:
        values["Voucher"] = ctx.number(f"{company}/Voucher/{header.values['JournalName']}")
    if values[names["date"]].year == 1900:
        values[names["date"]] = ctx.today()
    if not values[names["rate"]]:
        values[names["rate"]] = Decimal(100)
    if not values["CurrencyCode"]:
        values["CurrencyCode"] = "USD"
    for field_name in ("Company", "OffsetCompany"):
        if not values[field_name]:
            values[field_name] = names["company_case"](company)
    if not values["PostingProfile"] and line_set == "CustomerPaymentJournalLines":
        values["PostingProfile"] = "GEN"
    if jname is not None and not values["OffsetAccountDisplayValue"]:
        values["OffsetAccountType"] = jname.values["OffsetAccountType"]
        values["OffsetAccountDisplayValue"] = jname.values["OffsetAccountDisplayValue"]


def next_line_number(ctx: RuleContext, line_set: str, values: Values) -> Decimal:
    """The supplied LineNumber, or one past the highest of the journal (cached per journal)."""
    counter = (line_set, values["dataAreaId"].casefold(), values["JournalBatchNumber"].casefold())
    highest = ctx.store.line_counters.get(counter)
    if highest is None:
        lines = ctx.find_where(
            line_set,
            JournalBatchNumber=values["JournalBatchNumber"],
            dataAreaId=values["dataAreaId"],
        )
        highest = max((r.values["LineNumber"] for r in lines), default=Decimal(0))
    number: Decimal = values["LineNumber"] or highest + 1
    ctx.store.line_counters[counter] = max(highest, number)
    return number


def _resolve_account(ctx: RuleContext, values: Values, names: dict[str, Any]) -> None:
    if ctx.settings.unescaped_display_values == "accept":
        _escape_whole_accounts(ctx, values)
    if names.get("customer_name") and values["AccountType"] == "Cust":
        segments = split_display(values["AccountDisplayValue"])
        customer = ctx.find(
            "CustomersV3", dataAreaId=_company_of(values, "Company"), CustomerAccount=segments[0]
        )
        if customer is not None and len(segments) == 1:
            values["CustomerName"] = customer.values["OrganizationName"]


def _escape_whole_accounts(ctx: RuleContext, values: Values) -> None:
    """Lenient mode: an unescaped ``US-001`` naming a whole customer/bank account is escaped."""
    for type_field, value_field, company_field in (
        ("AccountType", "AccountDisplayValue", "Company"),
        ("OffsetAccountType", "OffsetAccountDisplayValue", "OffsetCompany"),
    ):
        account_type, display = values[type_field], values[value_field]
        if account_type not in {"Cust", "Bank"} or "\\" in display or "-" not in display:
            continue
        entity_set, key = (
            ("CustomersV3", "CustomerAccount")
            if account_type == "Cust"
            else ("BankAccounts", "BankAccountId")
        )
        company = _company_of(values, company_field)
        if ctx.find(entity_set, dataAreaId=company, **{key: display}) is not None:
            values[value_field] = escape_display(display)


def _company_of(values: Values, field_name: str) -> str:
    return str(values.get(field_name) or values["dataAreaId"]).lower()


def _line_validate(line_set: str) -> Any:
    names = _LINE_NAMES[line_set]

    def validate(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
        header = header_of(ctx, line_set, values)
        if header is None:
            return [
                not_in_related(
                    values["JournalBatchNumber"], "Journal batch number", "Ledger journal table"
                )
            ]
        if header.values["IsPosted"] == "Yes":
            return [posted_message(values["JournalBatchNumber"])]
        messages = _check_account(ctx, values, "AccountType", "AccountDisplayValue", "Company")
        messages += _check_account(
            ctx, values, "OffsetAccountType", "OffsetAccountDisplayValue", "OffsetCompany"
        )
        if ctx.find("Currencies", CurrencyCode=values["CurrencyCode"]) is None:
            messages.append(not_in_related(values["CurrencyCode"], "Currency", "Currency"))
        method = values.get(names["method"])
        if (
            method
            and ctx.find("CustomerPaymentMethods", dataAreaId=values["dataAreaId"], Name=method)
            is None
        ):
            messages.append(
                not_in_related(method, "Method of payment", "Methods of payment - customers")
            )
        if names.get("settle") and values["MarkedInvoice"] and not messages:
            messages += _check_marked_invoice(ctx, values, old)
        return messages

    return validate


def _check_account(
    ctx: RuleContext, values: Values, type_field: str, value_field: str, company_field: str
) -> list[str]:
    account_type, display = values[type_field], values[value_field]
    if not display:
        if type_field == "AccountType":
            return [
                f"Warning: Account number for transaction type {_TYPE_LABEL.get(account_type, account_type)} does not exist."
            ]
        return []
    segments = split_display(display)
    company = _company_of(values, company_field)
    if (
        account_type in {"Cust", "Bank"}
        and len(segments) > 1
        and ctx.settings.unescaped_display_values == "accept"
    ):
        segments = [display]
    if account_type == "Cust":
        found = (
            len(segments) == 1
            and ctx.find("CustomersV3", dataAreaId=company, CustomerAccount=segments[0]) is not None
        )
        label = "Customer"
    elif account_type == "Bank":
        found = (
            len(segments) == 1
            and ctx.find("BankAccounts", dataAreaId=company, BankAccountId=segments[0]) is not None
        )
        label = "Bank"
    elif account_type == "Ledger":
        found = any(
            r.values["MainAccountId"].casefold() == segments[0].casefold()
            for r in ctx.store.table("MainAccounts").rows.values()
        )
        label = "Ledger"
    else:
        return []
    if found:
        return []
    return [
        f"Warning: Account {display} does not exist for account type {label} in company {company}."
    ]


_TYPE_LABEL = {"Cust": "Customer", "Bank": "Bank", "Ledger": "Ledger", "Vend": "Vendor"}


def _check_marked_invoice(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    invoice = values["MarkedInvoice"]
    company = str(values["MarkedInvoiceCompany"] or values["dataAreaId"]).lower()
    account = split_display(values["AccountDisplayValue"])[0]
    trans = ctx.find_where(
        "CustTransactions", Invoice=invoice, dataAreaId=company, AccountNum=account
    )
    if not trans:
        return [f"Warning: Invoice {invoice} is not an open transaction for customer {account}."]
    amount = values["CreditAmount"] - values["DebitAmount"]
    remaining = open_amount(ctx, trans[0]) - marked_elsewhere(ctx, company, invoice, values)
    if amount > remaining:
        return [
            f"Warning: The amount of the invoice {amount:.2f} is greater than the remaining "
            f"amount {remaining:.2f}."
        ]
    return []


def open_amount(ctx: RuleContext, trans: Row) -> Decimal:
    opens = ctx.find_where(
        "CustTransOpens", RefRecId=trans.values["SysRecId"], dataAreaId=trans.values["dataAreaId"]
    )
    return sum((Decimal(r.values["AmountCur"]) for r in opens), Decimal(0))


def marked_elsewhere(ctx: RuleContext, company: str, invoice: str, values: Values) -> Decimal:
    """What other unposted payment lines already mark against this invoice."""
    total = Decimal(0)
    this = (values["dataAreaId"], values["JournalBatchNumber"], values["LineNumber"])
    for row in ctx.find_where("CustomerPaymentJournalLines", MarkedInvoice=invoice):
        v = row.values
        if (v["dataAreaId"], v["JournalBatchNumber"], v["LineNumber"]) == this:
            continue
        if str(v["MarkedInvoiceCompany"] or v["dataAreaId"]).lower() != company:
            continue
        header = header_of(ctx, "CustomerPaymentJournalLines", v)
        if header is not None and header.values["IsPosted"] == "No":
            total += v["CreditAmount"] - v["DebitAmount"]
    return total


def _line_after_write(line_set: str) -> Any:
    """Keep the general journal header's JournalTotalDebit/Credit current (incrementally)."""

    def after(ctx: RuleContext, new: Values | None, old: Row | None) -> None:
        if line_set != "LedgerJournalLines":
            return
        for values, sign in ((new, 1), (old.values if old else None, -1)):
            if values is None:
                continue
            header = header_of(ctx, line_set, values)
            if header is None:
                continue
            updated = dict(header.values)
            updated["JournalTotalDebit"] += sign * values["DebitAmount"]
            updated["JournalTotalCredit"] += sign * values["CreditAmount"]
            table = ctx.store.table("LedgerJournalHeaders")
            ctx.store.put(
                "LedgerJournalHeaders",
                table.key_of(updated),
                Row(updated, header.rec_id, header.rec_version),
            )

    return after


def _line_delete(line_set: str) -> Any:
    def validate_delete(ctx: RuleContext, row: Row) -> list[str]:
        header = header_of(ctx, line_set, row.values)
        if header is not None and header.values["IsPosted"] == "Yes":
            return [posted_message(row.values["JournalBatchNumber"])]
        return []

    return validate_delete


_LINE_NAMES: dict[str, dict[str, Any]] = {
    "CustomerPaymentJournalLines": {
        "date": "TransactionDate",
        "rate": "ExchangeRate",
        "method": "PaymentMethodName",
        "settle": True,
        "customer_name": True,
        "company_case": str.upper,
    },
    "LedgerJournalLines": {
        "date": "TransDate",
        "rate": "ExchRate",
        "method": "PaymentMethod",
        "company_case": str.lower,
    },
}

for _header in ("CustomerPaymentJournalHeaders", "LedgerJournalHeaders"):
    REGISTRY[_header] = EntityRules(
        defaults=_header_defaults(_header),
        validate=_header_validate(_header),
        validate_delete=_header_delete(_header),
        labels={"JournalName": "Name"},
    )
for _lines in HEADER_OF:
    REGISTRY[_lines] = EntityRules(
        defaults=_line_defaults(_lines),
        validate=_line_validate(_lines),
        validate_delete=_line_delete(_lines),
        after_write=_line_after_write(_lines),
        labels={"JournalBatchNumber": "Journal batch number"},
    )
