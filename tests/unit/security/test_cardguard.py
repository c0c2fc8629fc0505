"""Card-data guard: finds every card number, CSC and track, and never flags masked numbers."""

from __future__ import annotations

import json
import logging
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from paybridge.security.cardguard import (
    CSC_KEYS,
    NUMBER_KEYS,
    REDACTED,
    SECRET_KEYS,
    TRACK_KEYS,
    RedactingFilter,
    find_card_numbers,
    luhn_valid,
    mask_pan,
    redact,
    redact_text,
)

SANDBOX_CARDS = ["4012000098765439", "5499740000000057", "6011000993026909", "371449635392376"]


def _luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable")


pans = st.builds(_luhn_complete, st.text(alphabet="0123456789", min_size=12, max_size=18))
# Text without digits or key/value punctuation: only what a test plants can look sensitive.
plain_text = st.text(
    alphabet=st.characters(blacklist_categories=["Nd"], blacklist_characters=":="), max_size=20
)
SENSITIVE = CSC_KEYS | TRACK_KEYS | SECRET_KEYS | NUMBER_KEYS
masked = st.sampled_from(["xxxxxxxxxxxx5439", "************5454", "401200xxxxxx5439", "XXXX1111"])
ids = st.one_of(
    st.integers(min_value=100_000_000, max_value=999_999_999),  # PayTrace transaction ids
    st.integers(min_value=1_000_000_000, max_value=1_999_999_999).map(str),  # epoch strings
)


def _grouped(pan: str, separator: str) -> str:
    if not separator:
        return pan
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def _json_with(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                plain_text.filter(lambda k: k.lower() not in SENSITIVE), inner, max_size=4
            ),
        ),
        max_leaves=12,
    )


def _as_lists(value: Any) -> Any:
    """What redact returns for a clean value: the same, with tuples as lists."""
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_lists(v) for v in value]
    return value


@st.composite
def planted(draw: st.DrawFn) -> tuple[Any, str, str]:
    """Random JSON with one card number planted inside a string leaf, maybe grouped."""
    pan = draw(pans)
    text = draw(plain_text) + " " + _grouped(pan, draw(st.sampled_from(["", " ", "-"]))) + " "
    text += draw(plain_text)
    tree = draw(_json_with(st.one_of(plain_text, masked, ids, st.booleans(), st.none())))
    container: Any = {"note": text, "rest": tree} if draw(st.booleans()) else [tree, text]
    return container, pan, text


@settings(max_examples=300, deadline=None)
@given(planted())
def test_every_planted_card_number_is_found_and_redacted(case: tuple[Any, str, str]) -> None:
    value, pan, _ = case
    findings = [f for f in find_card_numbers(value) if f.kind == "pan"]
    assert any(f.masked.endswith(pan[-4:]) and pan not in f.masked for f in findings)
    dumped = json.dumps(redact(value))
    assert pan not in dumped.replace(" ", "").replace("-", "")


@settings(max_examples=200, deadline=None)
@given(pans.filter(lambda p: p[0] != "0"), _json_with(st.one_of(plain_text, masked, ids)))
def test_card_numbers_planted_as_json_integers_are_found(pan: str, tree: Any) -> None:
    value = {"data": tree, "card": int(pan)}
    findings = find_card_numbers(value)
    assert ("$.card", mask_pan(pan)) in {(f.path, f.masked) for f in findings}
    assert redact(value)["card"] == mask_pan(pan)


@settings(max_examples=300, deadline=None)
@given(_json_with(st.one_of(plain_text, masked, ids, st.booleans(), st.none())))
def test_masked_numbers_and_ids_are_never_flagged(value: Any) -> None:
    assert find_card_numbers(value) == []
    assert redact(value) == _as_lists(value)


def test_sandbox_cards_found_as_values_and_ints() -> None:
    body = {"credit_card": {"number": SANDBOX_CARDS[0]}, "amex": int(SANDBOX_CARDS[3])}
    paths = {(f.path, f.masked) for f in find_card_numbers(body)}
    assert paths == {
        ("$.credit_card.number", "xxxxxxxxxxxx5439"),
        ("$.amex", "xxxxxxxxxxx2376"),
    }


def test_csc_keys_and_track_data_are_flagged() -> None:
    body = {
        "CSC": "999",
        "nested": [{"cvv2": 123}, {"security_code": ""}],
        "swipe": "%B4111111111111111^SMITH/JOHN^2512101000000?;4111111111111111=25121010000?",
        "log": "sent csc=998 with ;5499740000000057=2912101? ok",
    }
    kinds = sorted((f.kind, f.path) for f in find_card_numbers(body))
    assert kinds == [
        ("csc", "$.CSC"),
        ("csc", "$.log"),
        ("csc", "$.nested[0].cvv2"),
        ("track", "$.log"),
        ("track", "$.swipe"),
    ]


def test_redact_masks_and_removes_secrets() -> None:
    body = {
        "integrator_id": "ABCDEF123456",
        "password": "pw",
        "access_token": "a:b:c",
        "csc": "999",
        "credit_card": {"number": "5454545454545454", "expiration_month": 12},
        "check": {"account_number": "123456789", "routing_number": "325070760"},
        "bad_number": {"number": "54545454545454"},  # not Luhn-valid, still a PAN: masked
        "note": "card 4012-0000-9876-5439, Bearer abc.def",
        "transaction_id": 125391271,
        "amount": 1.5,
    }
    out = redact(body)
    assert out["integrator_id"] == out["password"] == out["access_token"] == out["csc"] == REDACTED
    assert out["credit_card"] == {"number": "xxxxxxxxxxxx5454", "expiration_month": 12}
    assert out["check"] == {"account_number": "xxxxx6789", "routing_number": "325070760"}
    assert out["bad_number"] == {"number": "xxxxxxxxxx5454"}
    assert out["note"] == f"card xxxxxxxxxxxx5439, Bearer {REDACTED}"
    assert out["transaction_id"] == 125391271
    assert out["amount"] == 1.5
    assert body["csc"] == "999"  # a copy; the input is untouched


def test_redact_text_handles_raw_bodies() -> None:
    raw = 'grant_type=password&username=u&password=hunter2 {"csc": "123", "cvv":"456"}'
    out = redact_text(raw)
    assert "hunter2" not in out
    assert "123" not in out
    assert "456" not in out
    assert "grant_type=password" in out


def test_ids_dates_and_grouped_ids_are_left_alone() -> None:
    text = "txn 125391271 125391272 at 4/10/2015 4:06:30 PM, created_at 1733511471, +1 509-555-0100"
    assert find_card_numbers(text) == []
    assert redact_text(text) == text


def test_mask_pan_keeps_last_four() -> None:
    assert mask_pan("4012000098765439") == "xxxxxxxxxxxx5439"


def test_redacting_filter_cleans_messages_args_and_tracebacks() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.cardguard")
    handler = Keep()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("charging %s with csc=%s", "4012000098765439", "999")
        try:
            raise ValueError("bad card 5499740000000057")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = records
    assert first.getMessage() == f"charging xxxxxxxxxxxx5439 with csc={REDACTED}"
    assert second.exc_text is not None
    assert "5499740000000057" not in second.exc_text
    assert "xxxxxxxxxxxx0057" in logging.Formatter().format(second)


_PIECES = st.sampled_from([
    "Bearer", "bEaReR", "pb_0123456789ab_", "csc", "password", "token", "=", ":", "^", "%B",
    " ", ";", "?", "4012000098765439", "4012 0000 9876 5439", "1234", "%34", "\\u0034", "４",
    "abcdefghijklmnopqrstuvwxyz0123", "\"", "'", "&", "B",
])  # fmt: skip


@settings(max_examples=400)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12))
def test_the_no_hint_shortcut_redacts_exactly_as_every_pattern_would(pieces: list[str]) -> None:
    # redact_text skips the track, bearer, key=value and API-key patterns when the text holds
    # none of ":=^", "bearer" or "pb_"; with them all run it must come out the same.
    from paybridge.security import cardguard

    text = "".join(pieces)
    full = cardguard._mask_encoded(cardguard._mask_pans(cardguard._TRACK2.sub(
        REDACTED, cardguard._TRACK1.sub(REDACTED, text))))  # fmt: skip
    full = cardguard._BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", full)
    full = cardguard._KEY_VALUE.sub(lambda m: f"{m['head']}{m['q']}{REDACTED}{m['q']}", full)
    full = cardguard._API_KEY.sub(lambda m: f"{m.group(1)}{REDACTED}", full)
    assert redact_text(text) == full
