"""A link's random id never makes a key the card guard refuses (a pay link's charge key is
``paylink.<nonce>.<attempt>``: a hex nonce with a long run of digits was refused at random)."""

from __future__ import annotations

import pytest

from paybridge.charging.service import check_key
from paybridge.errors import DataError
from paybridge.security.cardguard import card_numbers_in_text
from paybridge.security.links import link_nonce


def test_link_nonces_hold_no_digit_and_make_valid_charge_keys() -> None:
    seen = {link_nonce() for _ in range(2000)}
    assert len(seen) == 2000  # random enough not to repeat
    for nonce in seen:
        assert len(nonce) == 20 and nonce.isalpha() and nonce.islower()
        key = f"paylink.{nonce}.12"
        check_key(key)  # raises on a key that looks like a card number
        assert not card_numbers_in_text(key)


def test_a_hex_nonce_could_make_a_key_that_is_refused() -> None:
    """Why the nonce has no digits: a hex nonce holding a card-like run of digits (one that
    token_hex can draw) makes a charge key the API refuses."""
    with pytest.raises(DataError, match="Idempotency-Key"):
        check_key("paylink.4111111111111111aabbcc.1")
