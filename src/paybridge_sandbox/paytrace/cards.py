"""Card checks (Luhn/length 35, month 43, year 44, CSC) and the masked card the sandbox keeps.

The full number and the CSC live only in the request being handled; what is stored is a
``CardOnFile`` (brand, BIN, last four, expiry), which is all the sandbox needs afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from paybridge_sandbox.paytrace.wire import ApiError, JsonObject, read_object

# CSCs the real sandbox expects for its published test cards (spec §8), keyed by
# (BIN, last four, length) so that no card number or CSC is kept per transaction.
TEST_CARD_CSC = {
    ("401200", "5439", 16): "999",
    ("549974", "0057", 16): "998",
    ("601100", "6909", 16): "996",
    ("371449", "2376", 15): "9997",
}


@dataclass(frozen=True)
class CardOnFile:
    brand: str
    bin6: str
    last4: str
    length: int
    expiration_month: int
    expiration_year: int

    @property
    def masked_x(self) -> str:
        """``xxxxxxxxxxxx5439``: the form of transaction and customer responses."""
        return "x" * (self.length - 4) + self.last4

    def masked_star(self, include_bin: bool = False) -> str:
        """``************5454`` (or BIN + stars + last four): the form of export records."""
        if include_bin:
            return self.bin6 + "*" * (self.length - 10) + self.last4
        return "*" * (self.length - 4) + self.last4


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "VISA"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "MASTERCARD"
    if number[:2] in {"34", "37"}:
        return "AMEX"
    if number.startswith(("6011", "65")) or "644" <= number[:3] <= "649":
        return "DISCOVER"
    if number[:2] in {"36", "38"} or "300" <= number[:3] <= "305":
        return "DINERS"
    if "3528" <= number[:4] <= "3589":
        return "JCB"
    return "OTHER"


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _year(value: object) -> int | None:
    year = _as_int(value)
    if year is None or not isinstance(value, (int, str)):
        return None
    digits = len(str(value).strip())
    if digits == 2:
        return 2000 + year
    if digits == 4 and 2000 <= year <= 2099:
        return year
    return None


def read_card(body: JsonObject, errors: ApiError) -> CardOnFile | None:
    """Validate ``credit_card`` (+ ``csc``), adding 35/43/44/47 to ``errors`` together."""
    mine = ApiError()
    card = read_object(body, "credit_card")
    number = card.get("number")
    number_text = number.strip() if isinstance(number, str) else ""
    if isinstance(number, int) and not isinstance(number, bool):
        number_text = str(number)
    if not (13 <= len(number_text) <= 19 and number_text.isdigit() and luhn_ok(number_text)):
        mine.add("35")
    month = _as_int(card.get("expiration_month"))
    if month is None or not 1 <= month <= 12:
        mine.add("43")
    year = _year(card.get("expiration_year"))
    if year is None:
        mine.add("44")
    csc = body.get("csc")
    if csc not in (None, "") and not (
        isinstance(csc, str) and csc.isdigit() and 3 <= len(csc) <= 4
    ):
        mine.add("47")
    for code, messages in mine.errors.items():
        errors.errors.setdefault(code, []).extend(messages)
    if mine.errors or month is None or year is None:
        return None
    return CardOnFile(
        brand=brand_of(number_text),
        bin6=number_text[:6],
        last4=number_text[-4:],
        length=len(number_text),
        expiration_month=month,
        expiration_year=year,
    )


def csc_response(card: CardOnFile, csc: object) -> str:
    """Spec §3.4: "" when no CSC was sent, else Match / No Match against the test card's CSC."""
    if not isinstance(csc, str) or not csc:
        return ""
    expected = TEST_CARD_CSC.get((card.bin6, card.last4, card.length))
    return "Match" if expected in (None, csc) else "No Match"
