"""PayTrace v1 result codes, error codes and AVS/CSC texts, in words a person can act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# spec §3.2: response_code -> what it means.
RESPONSE_CODES: Mapping[int, str] = {
    1: "One or more errors occurred (or, on exports, the request completed).",
    100: "The password was updated.",
    101: "The transaction was approved.",
    102: "The transaction was declined.",
    103: "The transaction was approved, then voided because the address and/or CSC did not match.",
    104: "The test transaction was approved.",
    105: "The test transaction was declined.",
    106: "The transaction was refunded.",
    107: "The refund did not succeed.",
    108: "The test refund succeeded.",
    109: "The transaction was voided.",
    110: "The void did not succeed.",
    111: "The test void succeeded.",
    112: "The transaction was captured.",
    113: "The capture did not succeed.",
    114: "The test capture succeeded.",
    115: "The transaction was forced.",
    116: "The transaction could not be forced.",
    117: "The test transaction was forced.",
    118: "The transaction was stored for later forwarding.",
    120: "The check was processed.",
    121: "The test check was processed.",
    122: "The check was refunded.",
    123: "The test check was refunded.",
    124: "The check was managed (funded or voided).",
    125: "The check was not processed.",
    149: "The receipt was emailed.",
    150: "The recurring payment was created.",
    151: "The recurring payment was updated.",
    152: "The recurring payment was deleted.",
    155: "The recurring payments were exported.",
    160: "The customer profile was created.",
    161: "The customer profile was updated.",
    162: "The customer profile was deleted.",
    170: "Level 3 (enhanced) data was added to the transaction.",
    175: "The batch was settled.",
    180: "The transaction amount was adjusted.",
}

# Codes that mean "the payment did not go through" (ActiveMerchant and Moqui agree, spec §3.2).
DECLINE_CODES: frozenset[int] = frozenset({102, 103, 107, 110, 113, 125})

# spec §3.3: keys of the ``errors`` map (with response_code 1).
ERROR_CODES: Mapping[str, str] = {
    "30": "The customer id was not found or its profile is incomplete.",
    "35": "The credit card number is not valid.",
    "43": "The card's expiration month is not valid.",
    "44": "The card's expiration year is not valid.",
    "45": "The checking account number is not valid.",
    "46": "The transit routing number is not valid.",
    "58": "The transaction id is missing or not valid.",
    "80": "The check id was not found; it may already be voided or settled.",
    "171": "That customer id is already used; customer ids must be unique.",
    "811": "The transaction id was not found.",
    "816": "Only an uncaptured, approved authorization can be captured.",
    "817": "Only a settled transaction can be refunded; void it instead.",
    "818": "Only a transaction pending settlement can be voided.",
    "981": "The API user lacks the permission for this operation.",
    "998": "The PayTrace login failed.",
}

# Errors that a person must fix in the PayTrace account, not in the request.
PERMISSION_ERRORS: frozenset[str] = frozenset({"981", "998"})

# Processor decline words (head of approval_message) -> plain words.
_DECLINE_WORDS: Mapping[str, str] = {
    "DECLINE": "The card issuer declined the payment",
    "EXPIRED CARD": "The card has expired",
    "INSUFFICIENT FUNDS": "The account has insufficient funds",
    "NSF": "The account has insufficient funds",
    "PICK UP CARD": "The issuer asks to keep the card (reported lost or stolen)",
    "CALL": "The issuer asks the merchant to call for approval",
    "INVALID CARD": "The card number is not valid",
    "INVALID EXP": "The expiration date is not valid",
    "CVV2 MISMATCH": "The card security code does not match",
}


def describe_response_code(code: int) -> str:
    """Plain words for a ``response_code``."""
    return RESPONSE_CODES.get(code, f"PayTrace response code {code}.")


def describe_error(code: str, messages: Sequence[str] = ()) -> str:
    """Plain words for one ``errors`` entry, preferring PayTrace's own text when it sent one."""
    text = " ".join(m.strip() for m in messages if m.strip())
    return text or ERROR_CODES.get(code, f"PayTrace error {code}.")


def decline_reason(code: int, approval_message: str = "", ach_message: str = "") -> str:
    """Why a payment was declined, for a person: processor words first, then the code's meaning."""
    text = " ".join(approval_message.split())
    head, _, detail = text.partition(" - ")
    if text:
        plain = _DECLINE_WORDS.get(head.upper())
        if plain and detail:
            return f"{plain}: {detail}."
        if plain:
            return f"{plain}."
        return f"{(detail or head).rstrip('.')}."
    if ach_message.strip():
        return f"{ach_message.strip().rstrip('.')}."
    return describe_response_code(code)


# NACHA return reason codes of an ACH debit, in words (the common ones).
ACH_RETURN_REASONS: Mapping[str, str] = {
    "R01": "insufficient funds", "R02": "account closed",
    "R03": "no account, or the account cannot be located", "R04": "invalid account number",
    "R05": "unauthorized debit to a consumer account (corporate SEC code)",
    "R06": "returned at the originating bank's request", "R07": "authorization revoked by the customer",
    "R08": "payment stopped", "R09": "uncollected funds",
    "R10": "the customer says the debit was not authorized",
    "R11": "the customer says the debit does not follow the authorization",
    "R12": "account sold to another bank", "R13": "invalid ACH routing number",
    "R14": "representative payee deceased", "R15": "account holder deceased",
    "R16": "account frozen", "R17": "file record edit criteria", "R20": "non-transaction account",
    "R29": "corporate customer says the debit was not authorized",
}  # fmt: skip


def ach_return_reason(code: str, message: str = "") -> str:
    """``R01: insufficient funds``; an unknown code keeps the bank's own words."""
    code = code.strip().upper()
    words = ACH_RETURN_REASONS.get(code) or " ".join(message.split()).lower() or "no reason given"
    return f"{code}: {words}" if code else words
