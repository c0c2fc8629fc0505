"""Identifiers are not card numbers: UUIDs and digits glued to letters never trip the guard."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from paybridge.security.cardguard import card_numbers_in_text, find_card_numbers


def test_a_request_id_whose_digits_pass_luhn_is_not_a_card_number() -> None:
    # Found by the chaos run's scan: "10-0793-4145-9419-1" inside this id passes Luhn.
    text = "PayTrace timeout [request 3c170d10-0793-4145-9419-1b5f7f6f3e08]"
    assert card_numbers_in_text(text) == []
    assert find_card_numbers({"last_error": text}) == []


def test_an_all_digit_uuid_tail_is_not_a_card_number() -> None:
    assert card_numbers_in_text("id 3c170d10-0793-4145-9419-123456789012") == []


@settings(max_examples=300, deadline=None)
@given(st.uuids())
def test_no_uuid_is_ever_a_card_number(value: uuid.UUID) -> None:
    assert card_numbers_in_text(f"request {value} failed") == []


def test_card_numbers_in_text_are_still_found() -> None:
    assert len(card_numbers_in_text("paid with 4111 1111 1111 1111.")) == 1
    assert len(card_numbers_in_text("pan=4012000098765439&exp=12")) == 1
    assert len(card_numbers_in_text('{"note": "4012-0000-9876-5439"}')) == 1
