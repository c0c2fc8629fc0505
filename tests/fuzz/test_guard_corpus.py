"""Hypothesis on the web card guard with the hostile corpus: every encoding, separator, digit class,
grouping and place; large and deeply nested bodies. Bounded in CI (``PAYBRIDGE_FUZZ_EXAMPLES``)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paybridge.security.cardguard import ScanBudget, TooDense
from paybridge.web.guard import (
    NestingTooDeep,
    refusal,
    scan_body,
    scan_headers,
    scan_path,
    scan_query,
)
from tests.fuzz.hostile import (
    ENCODINGS,
    body_in,
    digits_seen,
    large,
    luhn_complete,
    nested,
    written_pans,
)

EXAMPLES = int(os.environ.get("PAYBRIDGE_FUZZ_EXAMPLES", "15")) * 10
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("PAYBRIDGE_FUZZ_RANDOM") is None,
)
pans = st.builds(
    lambda prefix, rest: luhn_complete(prefix + rest),
    st.sampled_from(["4", "51", "55", "6011", "35"]),
    st.text("0123456789", min_size=11, max_size=14),
).filter(lambda p: 13 <= len(p) <= 19)


def refused(check: Any) -> bool:
    """True when the guard refuses: it found card data, or could not tell (too dense)."""
    try:
        return bool(check())
    except TooDense:
        return True


def never_echoed(findings: list[Any], pan: str) -> None:
    answer = json.dumps(refusal(findings), ensure_ascii=False)
    assert pan not in digits_seen(answer) and pan[-4:] not in answer


@FUZZ
@given(case=written_pans(pans), encoding=st.sampled_from(ENCODINGS), escape=st.booleans())
def test_a_written_card_number_in_any_encoded_body_is_refused(
    case: tuple[str, str], encoding: str, escape: bool
) -> None:
    pan, written = case
    body = body_in(written, encoding, escape)
    assert json.loads(body)["invoice_number"] == written  # what the framework will read
    findings = scan_body(body, "application/json")
    assert findings and {f.path for f in findings} <= {"$.invoice_number", "body"}
    never_echoed(findings, pan)


@FUZZ
@given(case=written_pans(pans), repeat=st.integers(0, 3), name=st.sampled_from(["actor", "q"]))
def test_a_written_card_number_in_the_query_path_or_a_header_is_refused(
    case: tuple[str, str], repeat: int, name: str
) -> None:
    _, written = case
    query = "&".join([f"{name}=ok"] * repeat + [f"{name}={quote(written)}"]).encode("ascii")
    assert refused(lambda: scan_query(query))
    assert refused(lambda: scan_path(f"/v1/charges/{written}", ScanBudget()))
    raw = written.encode("utf-8")
    assert refused(lambda: scan_headers([(b"idempotency-key", raw)], ScanBudget()))
    assert refused(lambda: scan_headers([(b"webhook-id", raw)], ScanBudget()))


@FUZZ
@given(
    exponent=st.integers(0, 15),
    pan=pans.filter(lambda p: len(p) <= 16),
)
def test_a_card_number_as_a_json_number_with_an_exponent_is_refused(
    pan: str, exponent: int
) -> None:
    exponent = min(exponent, len(pan) - 1)
    mantissa = f"{pan[: len(pan) - exponent]}.{pan[len(pan) - exponent :]}" if exponent else pan
    body = f'{{"type": "payment.processed", "transaction_id": {mantissa}e{exponent}}}'.encode()
    if float(json.loads(body)["transaction_id"]) != int(pan):
        return  # not exactly representable: the framework would not read this card number
    assert scan_body(body, "application/json")


@FUZZ
@given(
    kind=st.sampled_from(["spaced ones", "uuids", "dotted", "full-width"]),
    size=st.integers(1, 1024 * 1024),
)
def test_large_bodies_are_scanned_or_refused_in_bounded_time(kind: str, size: int) -> None:
    started = time.perf_counter()
    with contextlib.suppress(TooDense):
        scan_body(large(kind, size), "application/json")
    assert time.perf_counter() - started < 2.0  # bench/cardguard.py: < 50 ms at 1 MiB


@FUZZ
@given(depth=st.integers(1, 200_000), json_type=st.booleans())
def test_deep_nesting_is_refused_or_read_never_crashes(depth: int, json_type: bool) -> None:
    content_type = "application/json" if json_type else "text/plain"
    try:
        assert scan_body(nested(depth), content_type) == []
    except NestingTooDeep:
        assert depth > 500
