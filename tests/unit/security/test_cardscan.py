"""The scanner reads a card number however it is written, leaves ids, times and amounts alone, and is bounded."""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paybridge.security.cardguard import (
    REDACTED,
    ScanBudget,
    TooDense,
    find_card_numbers,
    redact_text,
    render_path,
)
from paybridge.security.cardscan import luhn_valid, pan_spans

PAN = "4012000098765439"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
MATH_BOLD = str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")


def grouped(pan: str, sep: str, size: int = 4) -> str:
    return sep.join(pan[i : i + size] for i in range(0, len(pan), size))


# Each way of writing a card number that the penetration test got through, and a few more.
WRITTEN = {
    "dots": grouped(PAN, "."),
    "slashes": grouped(PAN, "/"),
    "underscores": grouped(PAN, "_"),
    "double spaces": grouped(PAN, "  "),
    "tab": grouped(PAN, "\t"),
    "newline": grouped(PAN, "\n"),
    "no-break space": grouped(PAN, "\u00a0"),
    "thin space": grouped(PAN, "\u2009"),
    "zero-width space": grouped(PAN, "\u200b"),
    "zero-width joiner": grouped(PAN, "\u200d"),
    "ideographic space": grouped(PAN, "\u3000"),
    "en dash": grouped(PAN, "\u2013"),
    "minus sign": grouped(PAN, "\u2212"),
    "middle dot": grouped(PAN, "\u00b7"),
    "mixed separators": "4012.0000 9876-5439",
    "8+8": grouped(PAN, " ", 8),
    "4-6-5 amex": "3714 496353 98431",
    "one digit at a time": " ".join(PAN),
    "letters glued in front": f"card{PAN}",
    "glued both sides": f"card{PAN}exp",
    "full-width": PAN.translate(FULL_WIDTH),
    "full-width grouped": grouped(PAN.translate(FULL_WIDTH), "－"),
    "arabic-indic": PAN.translate(ARABIC_INDIC),
    "devanagari": PAN.translate(DEVANAGARI),
    "mathematical bold": PAN.translate(MATH_BOLD),
    "superscripts": "⁴⁰¹²⁰⁰⁰⁰⁹⁸⁷⁶⁵⁴³⁹",
    "combining marks": "".join(d + "\u0301" for d in PAN),
}


@pytest.mark.parametrize("text", WRITTEN.values(), ids=WRITTEN.keys())
def test_every_way_of_writing_a_card_number_is_found(text: str) -> None:
    findings = find_card_numbers({"invoice_number": f"INV {text} thanks"})
    assert [f.kind for f in findings] == ["pan"]
    assert findings[0].path == "$.invoice_number"
    assert PAN[-4:] in findings[0].masked or "3714" in text


@pytest.mark.parametrize("text", WRITTEN.values(), ids=WRITTEN.keys())
def test_redaction_masks_every_way_of_writing_it(text: str) -> None:
    out = redact_text(f"GET /v1/charges?n={text} 422")
    digits = "".join(ch for ch in out if ch.isdigit())
    assert PAN not in digits and "371449635398431" not in digits
    assert out.startswith("GET /v1/charges?n=")


@pytest.mark.parametrize(
    "text",
    [
        "GET /v1/charges?n=4012%200000%209876%205439",
        "GET /v1/charges?n=%EF%BC%94%EF%BC%90%EF%BC%91%EF%BC%92000098765439",
        '{"n": "\\u0034\\u0030\\u0031\\u0032000098765439"}',
        "paid ⑩ " + PAN,
    ],
)
def test_redaction_sees_through_percent_encoding_and_escapes(text: str) -> None:
    out = redact_text(text)
    assert PAN not in "".join(ch for ch in out if ch.isdigit())


def test_exponent_numbers_are_read_as_the_integers_a_model_makes() -> None:
    value = {"transaction_id": float(PAN)}  # what json.loads makes of 4.012000098765439e15
    assert [f.path for f in find_card_numbers(value)] == ["$.transaction_id"]


def test_a_card_number_as_a_key_is_found_and_never_repeated_in_the_path() -> None:
    findings = find_card_numbers({"ok": 1, PAN: "x", "4012": {"0000": {"9876": {"5439": 1}}}})
    assert findings and all(PAN not in f.path for f in findings)
    assert [f.path for f in findings] == ["$[#1]"]
    nested = render_path((("4012", 0), ("0000", 0), ("9876", 0), ("5439", 0)))
    assert nested == "$[#0][#0][#0][#0]"


@pytest.mark.parametrize(
    "text",
    [
        "3c170d10-0793-4145-9419-1b5f7f6f3e08",
        "id 3c170d10-0793-4145-9419-123456789012",
        "2026-03-10T18:00:00.123456+00:00 2026-03-11T09:30:00Z",
        "2026-03-10 18:00:00, 2026-03-11 09:30:00",
        "12.50 13.75 14.00",
        "1,234,567.89 USD and 2,000.00 USD",
        "txn 125391271 125391272 at 4/10/2015 4:06:30 PM, created_at 1733511471",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "digest e3b0c44298fc1c149afbf4c8996fb924274012000098765439ae41e4649b934ca495991b7852b8",
        "xxxxxxxxxxxx5439 401200xxxxxx5439",
        "INV-000123 SO-2026-0001",
    ],
)
def test_ids_times_amounts_and_digests_are_not_card_numbers(text: str) -> None:
    assert pan_spans(text) == []
    assert redact_text(text) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.uuids(), min_size=1, max_size=40), st.sampled_from([" ", "\n", ",", ""]))
def test_no_run_of_uuids_is_a_card_number(values: list[uuid.UUID], sep: str) -> None:
    assert pan_spans(sep.join(str(v) for v in values)) == []


@settings(max_examples=300, deadline=None)
@given(st.datetimes(), st.decimals(min_value=0, max_value=10**9, places=2))
def test_no_timestamp_or_amount_is_a_card_number(moment: object, amount: object) -> None:
    assert pan_spans(f"{moment} {amount} USD") == []


def test_luhn_invalid_and_too_long_numbers_are_not_card_numbers() -> None:
    assert not luhn_valid("4012000098765438")
    assert pan_spans("4012 0000 9876 5438") == []
    assert pan_spans("40120000987654390000") == []  # one group of 20 digits
    assert pan_spans("401200009 8765439") == []  # a 9-digit group joins nothing


N = 1 << 20
HOSTILE = {
    "spaced ones": "1 " * (N // 2),
    "uuids": "3c170d10-0793-4145-9419-1b5f7f6f3e08 " * (N // 37),
    "dotted groups": "4111.1111.1111.1112 " * (N // 20),
    "13-digit runs": "1111111111111x" * (N // 14),
    "full-width": "４１１１\u3000" * (N // 15),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_mebibyte_is_scanned_or_refused_quickly(text: str) -> None:
    # main took 21-37 s on such bodies; bench/cardguard.py prints the real figures (< 50 ms).
    started = time.perf_counter()
    with contextlib.suppress(TooDense):
        pan_spans(text)
    assert time.perf_counter() - started < 1.0


def test_the_budget_refuses_rather_than_passing_unread() -> None:
    budget = ScanBudget(limit=10)
    with pytest.raises(TooDense):
        pan_spans("1 " * 400, budget)
    assert budget.spent > budget.limit
    assert pan_spans("1 " * 400, ScanBudget()) == []  # within the default budget: read, clean


def test_a_dense_log_line_loses_its_digits_rather_than_its_mask() -> None:
    out = redact_text("1 " * 3000 + grouped(PAN, " ") + " done")
    assert out == "x " * 3000 + grouped("x" * 16, " ") + " done"


def test_a_number_hidden_across_encoded_tokens_takes_the_whole_line() -> None:
    assert redact_text("n=4012%200000 9876%205439") == f"{REDACTED} (card data)"
