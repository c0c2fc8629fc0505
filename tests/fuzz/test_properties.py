"""Hypothesis on the inbound-event verifier and the web card guard: hostile input, bounded in CI."""

from __future__ import annotations

import json
import os
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paybridge.security.cardguard import CSC_KEYS, TRACK_KEYS, luhn_valid
from paybridge.security.webhooks import SignatureError, check_signature, sign
from paybridge.web.guard import refusal, scan_body, scan_query

EXAMPLES = int(os.environ.get("PAYBRIDGE_FUZZ_EXAMPLES", "15")) * 10
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("PAYBRIDGE_FUZZ_RANDOM") is None,
)
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)

ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
secrets_ = st.binary(min_size=16, max_size=64)
offsets = st.integers(min_value=-300, max_value=300)


def luhn_complete(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


pans = st.builds(
    lambda prefix, rest: luhn_complete(prefix + rest),
    st.sampled_from(["4", "51", "55", "37", "6011", "35"]),
    st.text("0123456789", min_size=10, max_size=14),
).filter(lambda p: 13 <= len(p) <= 19)


def spaced(pan: str, sep: str) -> str:
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


@FUZZ
@given(secret=secrets_, webhook_id=ids, body=st.binary(max_size=300), offset=offsets)
def test_a_signed_delivery_verifies_within_tolerance(
    secret: bytes, webhook_id: str, body: bytes, offset: int
) -> None:
    ts = int(NOW.timestamp()) + offset
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, webhook_id, ts, body),
    }
    assert check_signature(headers, body, [secret], NOW).body == body


@FUZZ
@given(
    secret=secrets_, body=st.binary(min_size=1, max_size=200), index=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)  # fmt: skip
def test_any_changed_byte_is_refused(secret: bytes, body: bytes, index: int, flip: int) -> None:
    ts = int(NOW.timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, "msg_1", ts, body),
    }
    changed = bytearray(body)
    changed[index % len(body)] ^= flip
    with pytest.raises(SignatureError) as caught:
        check_signature(headers, bytes(changed), [secret], NOW)
    assert caught.value.code == "no_matching_signature"


@FUZZ
@given(headers=st.dictionaries(
    st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x"]),
    st.text(max_size=80),
), body=st.binary(max_size=100))  # fmt: skip
def test_garbage_headers_are_refused_never_crash(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(SignatureError) as caught:
        check_signature(headers, body, [b"k" * 32], NOW, timedelta(days=365 * 100))
    assert caught.value.code and "k" * 32 not in str(caught.value)


# Ordinary text: words, short ids and masked numbers, never a key=value that names a CSC.
words = st.text(string.ascii_letters + " -_.", max_size=20)
keys = words.filter(lambda k: k.lower() not in CSC_KEYS | TRACK_KEYS)
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), words,
    st.sampled_from(["xxxxxxxxxxxx5439", "401200xxxxxx5439", "INV-000123", "SO-2026-0001"]),
)  # fmt: skip
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def plant(value: Any, pan: str, depth: int) -> Any:
    """``value`` with ``pan`` put somewhere a text field lives."""
    if isinstance(value, dict) and value and depth:
        key = sorted(value)[0]
        return {**value, key: plant(value[key], pan, depth - 1)}
    if isinstance(value, list) and value and depth:
        return [plant(value[0], pan, depth - 1), *value[1:]]
    return {"note": f"paid with {pan} thanks", "rest": value}


@FUZZ
@given(value=json_values, pan=pans, sep=st.sampled_from(["", " ", "-"]), depth=st.integers(0, 3))
def test_a_planted_card_number_is_always_refused(
    value: Any, pan: str, sep: str, depth: int
) -> None:
    planted = plant(value, spaced(pan, sep) if sep else pan, depth)
    body = json.dumps(planted).encode()
    findings = scan_body(body, "application/json")
    assert any(f.kind == "pan" for f in findings)
    answer = json.dumps(refusal(findings))
    assert pan not in answer and pan[-8:] not in answer


@FUZZ
@given(value=json_values)
def test_masked_numbers_and_short_ids_pass(value: Any) -> None:
    assert scan_body(json.dumps(value).encode(), "application/json") == []


@FUZZ
@given(body=st.binary(max_size=400), content_type=st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "text/plain", "", "multipart/form-data",
]), query=st.binary(max_size=100))  # fmt: skip
def test_the_guard_reads_any_bytes_without_crashing(
    body: bytes, content_type: str, query: bytes
) -> None:
    for finding in scan_body(body, content_type) + scan_query(query):
        assert finding.kind in {"pan", "csc", "track"}
