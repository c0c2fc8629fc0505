"""What templates may read and write: canonical models, D365 entity sets, PayTrace requests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from paybridge.model import (
    Address,
    Customer,
    Event,
    Invoice,
    JournalLine,
    PaymentMethod,
    SalesOrder,
    SettlementBatch,
    Transaction,
)

SYSTEMS = ("canonical", "d365", "paytrace")

CANONICAL_MODELS: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (Address, Customer, Event, Invoice, JournalLine, PaymentMethod, SalesOrder,
                SettlementBatch, Transaction)
}  # fmt: skip

_ADDRESS = frozenset(
    {"name", "street_address", "street_address2", "city", "state", "zip", "country", "county"}
)
_NESTED = {"billing_address": _ADDRESS, "shipping_address": _ADDRESS, "source_address": _ADDRESS}
_FREE_KEYS = frozenset({"discretionary_data"})  # merchant-defined names (spec §6)
# Card and bank data never pass through a template: they come from Protect.js or the vault.
CARD_DATA_FIELDS = frozenset(
    {"credit_card", "csc", "swipe", "encrypted_swipe", "encrypted_csc", "check", "number"}
)

_CHARGE = {"amount", "invoice_id", "description", "email", "customer_reference_id", "tax_amount",
           "freight_amount", "billing_address", "shipping_address", "discretionary_data"}  # fmt: skip
_LEVEL3 = {"transaction_id", "invoice_id", "customer_reference_id", "tax_amount",
           "national_tax_amount", "merchant_tax_id", "customer_tax_id", "commodity_code",
           "discount_amount", "freight_amount", "duty_amount", "additional_tax_amount",
           "additional_tax_rate", "additional_tax_included", "source_address", "shipping_address",
           "line_items"}  # fmt: skip
_CUSTOMER = {"customer_id", "billing_address", "shipping_address", "email", "phone", "fax",
             "discretionary_data"}  # fmt: skip

_EXPORT = {"start_date", "end_date", "transaction_id", "transaction_type", "customer_id",
           "include_bin", "including_text"}  # fmt: skip

PAYTRACE_REQUESTS: dict[str, frozenset[str]] = {
    "sale_by_customer": frozenset(_CHARGE | {"customer_id"}),
    "authorization_by_customer": frozenset(_CHARGE | {"customer_id"}),
    "sale_by_transaction": frozenset(_CHARGE | {"transaction_id"}),
    "refund_to_customer": frozenset(_CHARGE | {"customer_id"}),
    "capture": frozenset({"transaction_id", "amount"}),
    "void": frozenset({"transaction_id"}),
    "refund_for_transaction": frozenset({"transaction_id", "amount"}),
    "customer_create": frozenset(_CUSTOMER),
    "customer_update": frozenset(_CUSTOMER),
    "level_three_visa": frozenset(_LEVEL3),
    "level_three_mastercard": frozenset(_LEVEL3),
    "export_by_date_range": frozenset(_EXPORT),
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Endpoint:
    """``system.name`` from a template's ``source`` or ``target`` line."""

    system: str
    name: str

    def __str__(self) -> str:
        return f"{self.system}.{self.name}"


def parse_endpoint(text: object, role: str) -> tuple[Endpoint | None, str | None]:
    if not isinstance(text, str) or "." not in text:
        return None, f"{role} must look like 'system.Name' with system one of {', '.join(SYSTEMS)}"
    system, _, name = text.partition(".")
    if system not in SYSTEMS:
        return None, f"unknown {role} system {system!r} (use one of {', '.join(SYSTEMS)})"
    if not _IDENTIFIER.match(name):
        return None, f"{role} name {name!r} is not a valid identifier"
    if system == "canonical" and name not in CANONICAL_MODELS:
        return (
            None,
            f"unknown canonical model {name!r} (known: {', '.join(sorted(CANONICAL_MODELS))})",
        )
    if role == "target" and system == "paytrace" and name not in PAYTRACE_REQUESTS:
        known = ", ".join(sorted(PAYTRACE_REQUESTS))
        return None, f"unknown PayTrace request {name!r} (known: {known})"
    return Endpoint(system, name), None


def target_field_problem(target: Endpoint, path: tuple[str, ...]) -> str | None:
    """Why ``path`` cannot be written to ``target``, or None when it can."""
    if not all(_IDENTIFIER.match(part) for part in path):
        return "field names are identifiers joined by dots"
    if target.system == "d365":
        return "D365 fields are flat: no dots in the name" if len(path) > 1 else None
    if target.system == "canonical":
        fields = CANONICAL_MODELS[target.name].model_fields
        return None if path[0] in fields else f"{target.name} has no field {path[0]!r}"
    return _paytrace_field_problem(target.name, path)


def _paytrace_field_problem(request: str, path: tuple[str, ...]) -> str | None:
    top = path[0]
    if top in CARD_DATA_FIELDS or any(p in CARD_DATA_FIELDS for p in path):
        return "templates never carry card or bank account data"
    if top not in PAYTRACE_REQUESTS[request]:
        return f"PayTrace request {request} has no field {top!r}"
    if top in _NESTED:
        if len(path) != 2 or path[1] not in _NESTED[top]:
            return f"{top} takes one of: {', '.join(sorted(_NESTED[top]))}"
    elif top in _FREE_KEYS:
        return None if len(path) == 2 else f"{top} takes one level of names: {top}.<name>"
    elif len(path) > 1 and top != "line_items":
        return f"{top} is a single value, not an object"
    return None
