"""The charge request model, key rules and the charges rows (claims, conflicts, settling)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from paybridge.charging.records import (
    APPROVED,
    IN_DOUBT,
    OPEN,
    PENDING,
    ChargeRecords,
    ChargeRequest,
    IdempotencyConflict,
    check_key,
)
from paybridge.clock import ManualClock
from paybridge.errors import DataError
from paybridge.runtime.ledger import Xref
from paybridge.store import open_engine

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def request(**extra: object) -> ChargeRequest:
    values: dict[str, object] = {"company": "usmf", "invoice_number": "CIV-1", **extra}
    return ChargeRequest.model_validate(values)


def test_the_same_request_spelled_differently_has_one_fingerprint() -> None:
    a = request(amount="10.00")
    b = ChargeRequest.model_validate({"company": "USMF", "invoice_number": "CIV-1", "amount": "10"})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != request(amount="10.01").fingerprint()
    assert a.fingerprint() != request(amount="10.00", mode="authorization").fingerprint()
    assert request().canonical()["amount"] is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"amount": 10.5}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "1e3"}, None),  # a valid decimal string: 1000
        ({"sales_order_number": "SO-1"}, ""),
        ({"company": "us mf"}, "company"),
        ({"pan": "x"}, "pan"),
    ],
)
def test_request_validation_names_the_field(values: dict[str, object], field: str | None) -> None:
    if field is None:
        assert request(**values).amount == Decimal("1000")
        return
    with pytest.raises(ValidationError) as caught:
        request(**values)
    locs = {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
    assert field in locs


def test_neither_document_is_refused() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ChargeRequest.model_validate({"company": "usmf"})


@pytest.mark.parametrize("key", ["", "has space", "a/b", "x" * 101, "4012000098765439", "é"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(DataError) as caught:
        check_key(key)
    assert "Idempotency-Key" in caught.value.fields


def test_good_keys_pass() -> None:
    for key in ("3f2c0e9a-5b1d-4e7a-9c1b-2d3e4f5a6b7c", "order:123@shop", "K1"):
        assert check_key(key) == key


@pytest.fixture
def records(store_url: str) -> ChargeRecords:
    """On SQLite and (when reachable) PostgreSQL: the same claims and compare-and-sets."""
    return ChargeRecords(open_engine(store_url), ManualClock(START))


def test_a_key_is_claimed_once_and_bound_to_its_body(records: ChargeRecords) -> None:
    first, claimed = records.claim("k", request(amount="5.00"))
    again, claimed_again = records.claim("k", request(amount="5.00"))
    assert claimed and not claimed_again
    assert first.status == again.status == PENDING and again.attempts == 1
    with pytest.raises(IdempotencyConflict) as caught:
        records.claim("k", request(amount="6.00"))
    assert caught.value.in_progress is False


def test_an_open_key_is_claimed_again_with_a_new_attempt(records: ChargeRecords) -> None:
    first, _ = records.claim("k", request())
    assert records.release(first, "refused")
    assert records.get("k").status == OPEN  # type: ignore[union-attr]
    assert not records.release(first, "twice")  # compare-and-set: the row moved on
    second, claimed = records.claim("k", request())
    assert claimed and second.status == PENDING and second.attempts == 2


def test_a_final_outcome_is_never_overwritten(records: ChargeRecords) -> None:
    records.claim("k", request())
    with records.engine.begin() as conn:
        assert records.settle(conn, "k", IN_DOUBT, {"reason": "timeout"})
        assert records.settle(conn, "k", APPROVED, {"transaction_id": "1"})
        assert not records.settle(conn, "k", IN_DOUBT, {"reason": "late"})
    final = records.get("k")
    assert final is not None and final.status == APPROVED
    assert final.outcome == {"transaction_id": "1"}


def test_stale_lists_only_old_pending_rows(records: ChargeRecords) -> None:
    records.claim("old", request())
    assert isinstance(records.clock, ManualClock)
    records.clock.advance(600)
    records.claim("new", request())
    with records.engine.begin() as conn:
        records.settle(conn, "new", IN_DOUBT, {})
    assert [r.key for r in records.stale(records.clock.now())] == ["old"]
    assert records.stale(START) == []


def test_xref_reverse_lookup_finds_the_newest_profile(tmp_path: Path) -> None:
    clock = ManualClock(START)
    xref = Xref(open_engine(f"sqlite:///{tmp_path / 'x.db'}"), clock)
    xref.link("paytrace_customer", "P-OLD", "usmf/US-001")
    clock.advance(5)
    xref.link("paytrace_customer", "P-NEW", "usmf/US-001")
    xref.link("other_kind", "Z", "usmf/US-002")
    assert xref.source_for("paytrace_customer", "usmf/US-001") == "P-NEW"
    assert xref.source_for("paytrace_customer", "usmf/US-002") is None
