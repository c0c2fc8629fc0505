"""PayTrace's wire format: request body parsing, typed field reads, the envelope and exact JSON.

Error keys marked "emulator choice" below were not seen in any public capture; the client must
not depend on them (it reads ``errors`` as an opaque map).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

JsonObject = dict[str, Any]

OK_EXPORT = "Your request has been successfully completed."
ERRORS_OCCURRED = "One or more errors has occurred."

MESSAGES: dict[str, str] = {
    "35": "Please provide a valid Credit Card Number.",
    "43": "Please provide a valid Expiration Month.",
    "44": "Please provide a valid Expiration Year.",
    "45": "Please provide a valid Checking Account Number.",
    "46": "Please provide a valid Transit Routing Number.",
    "58": "Please provide a valid Transaction ID.",
    "80": (
        "The Check ID that you have provided was not found in the PayTrace records. "
        "It may already be voided or settled."
    ),
    "171": "Please provide a unique customer ID.",
    "811": "The Transaction ID that you provided was not found.",
    "816": (
        "The Transaction ID that you provided could not be captured. "
        "Only uncaptured, approved authorizations can be captured."
    ),
    "817": (
        "The Transaction ID that you provided could not be refunded. Only settled transactions "
        "can be refunded.  Please try to void the transaction instead."
    ),
    "818": (
        "The Transaction ID that you provided could not be voided. "
        "Only transactions that are pending settlement can be voided."
    ),
    "981": "Log in failed for insufficient permissions.",
    # Emulator choices (no public capture):
    "1": "The request body is not a valid JSON object.",
    "38": "Please provide a valid Customer ID.",
    "39": "Please provide a valid Transaction Amount.",
    "47": "Please provide a valid CSC.",
    "48": "Please provide a valid Start Date.",
    "49": "Please provide a valid End Date.",
    "50": "Please provide a valid Email Address.",
    "51": "Please provide a valid Batch Number.",
    "52": "Please provide a valid Recurrence ID.",
    "53": "Please provide a valid Frequency.",
    "54": "Please provide a valid Protect token.",
    "55": "Please provide valid line items.",
    "56": "The refund amount exceeds the amount available to refund.",
    "57": "The capture amount exceeds the authorized amount.",
    "59": "Enhanced data can only be added to Visa or MasterCard transactions.",
    "60": "Please provide a valid Check Transaction ID.",
    "61": "The Check ID that you provided cannot be managed in its current state.",
    "62": "The amount can only be adjusted on unsettled, approved transactions.",
    "63": "Enhanced data can only be added to unsettled sales or captured authorizations.",
    "64": "Please provide additional_tax_included as true or false.",
}


def customer_not_found(customer_id: str) -> str:
    return f"Customer ID, {customer_id}, was not found or is incomplete."


@dataclass
class ApiError(Exception):
    """A ``response_code: 1`` answer; codes accumulate so one response can carry several."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    extra: JsonObject = field(default_factory=dict)

    def add(self, code: str, message: str | None = None) -> None:
        self.errors.setdefault(code, []).append(message or MESSAGES[code])

    def raise_if_any(self) -> None:
        if self.errors:
            raise self

    def body(self) -> JsonObject:
        return {
            "success": False,
            "response_code": 1,
            "status_message": ERRORS_OCCURRED,
            "errors": self.errors,
            **self.extra,
        }


def fail(code: str, message: str | None = None, **extra: Any) -> ApiError:
    error = ApiError(extra=dict(extra))
    error.add(code, message)
    return error


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_body(raw: bytes) -> JsonObject:
    """Decode a request body; JSON numbers become Decimal so 0.29 stays 0.29."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise fail("1") from None
    if not isinstance(value, dict):
        raise fail("1")
    return value


_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal("1e12")


def read_amount(body: JsonObject, key: str = "amount", *, required: bool = True) -> Decimal | None:
    """An amount sent as a JSON number or a string, at most two decimals; 39 otherwise."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise fail("39")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise fail("39")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise fail("39") from None
    if not number.is_finite() or abs(number) >= _AMOUNT_LIMIT:
        raise fail("39")
    rounded = number.quantize(_CENT)
    if rounded != number:
        raise fail("39")
    return rounded


def read_str(body: JsonObject, key: str) -> str:
    """A text field; numbers are accepted as text, objects/arrays are a type error."""
    value = body.get(key)
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        raise fail("1", f"The field {key} has the wrong type.")
    return str(value)


def read_object(body: JsonObject, key: str) -> JsonObject:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail("1", f"The field {key} has the wrong type.")
    return value


def read_transaction_id(body: JsonObject, key: str = "transaction_id", code: str = "58") -> int:
    """Ids come as JSON integers or numeric strings; blank or non-numeric is ``code`` (58)."""
    value = body.get(key)
    if isinstance(value, bool):
        raise fail(code)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise fail(code)


class JsonRenderer:
    """Serialises with the C encoder while writing Decimals as exact JSON numbers.

    Each Decimal is swapped for a string carrying a per-process secret marker and the marker is
    replaced after encoding, so request text can never forge a number.
    """

    def __init__(self) -> None:
        self._marker = "\u0001" + secrets.token_hex(8) + ":"
        escaped = json.dumps(self._marker)[1:-1]
        self._pattern = re.compile('"' + re.escape(escaped) + r"(-?[0-9.]+)\"")

    def number(self, value: Decimal) -> str:
        if value == value.to_integral_value():
            return self._marker + str(int(value))
        return self._marker + format(value.normalize(), "f")

    def prepare(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return self.number(value)
        if isinstance(value, dict):
            return {k: self.prepare(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.prepare(v) for v in value]
        return value

    def dumps(self, value: Any) -> str:
        text = json.dumps(self.prepare(value), separators=(",", ":"))
        return self.unmark(text)

    def unmark(self, text: str) -> str:
        return self._pattern.sub(r"\1", text)
