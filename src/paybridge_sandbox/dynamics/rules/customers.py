"""CustomersV3 business logic: number sequence, party defaults, group and currency relations."""

from __future__ import annotations

from paybridge_sandbox.dynamics.rules import (
    REGISTRY,
    EntityRules,
    RuleContext,
    Values,
    not_in_related,
)
from paybridge_sandbox.dynamics.store import Row

AOT = "CustCustomerV3Entity"


def _defaults(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    company = values["dataAreaId"]
    if old is None:
        if not values["CustomerAccount"]:
            values["CustomerAccount"] = ctx.number(f"{company}/CustomersV3")
        # Parties (DirPartyTable) are global in F&O: one number sequence across companies.
        values["PartyNumber"] = ctx.number("PartyNumber")
        values["PartyType"] = values["PartyType"] or "Organization"
        values["LanguageId"] = values["LanguageId"] or "en-US"
    name = values.get("OrganizationName") or " ".join(
        p for p in (values.get("PersonFirstName"), values.get("PersonLastName")) if p
    )
    if not values["NameAlias"]:
        values["NameAlias"] = str(name)[:20]
    group = ctx.find(
        "CustomerGroups", dataAreaId=company, CustomerGroupId=values["CustomerGroupId"]
    )
    if group is not None and not values["PaymentTerms"]:
        values["PaymentTerms"] = group.values["PaymentTermId"]
    return []


def _validate(ctx: RuleContext, values: Values, old: Row | None) -> list[str]:
    messages: list[str] = []
    company = values["dataAreaId"]
    group = values["CustomerGroupId"]
    if group and ctx.find("CustomerGroups", dataAreaId=company, CustomerGroupId=group) is None:
        messages.append(not_in_related(group, "Customer group", "Customer groups"))
        messages.append(f"Warning: validateField failed on field '{AOT}.CustomerGroupId'.")
    currency = values["SalesCurrencyCode"]
    if currency and ctx.find("Currencies", CurrencyCode=currency) is None:
        messages.append(not_in_related(currency, "Currency", "Currency"))
        messages.append(f"Warning: validateField failed on field '{AOT}.SalesCurrencyCode'.")
    method = values["PaymentMethod"]
    if method and ctx.find("CustomerPaymentMethods", dataAreaId=company, Name=method) is None:
        messages.append(
            not_in_related(method, "Method of payment", "Methods of payment - customers")
        )
    return messages


def _validate_delete(ctx: RuleContext, row: Row) -> list[str]:
    account = row.values["CustomerAccount"]
    company = row.values["dataAreaId"]
    if ctx.find_where("CustTransactions", AccountNum=account, dataAreaId=company):
        return [f"Warning: Customer {account} has transactions and cannot be deleted."]
    return []


REGISTRY["CustomersV3"] = EntityRules(
    defaults=_defaults,
    validate=_validate,
    validate_delete=_validate_delete,
    labels={
        "CustomerGroupId": "Customer group",
        "SalesCurrencyCode": "Currency",
        "CustomerAccount": "Customer account",
    },
)
