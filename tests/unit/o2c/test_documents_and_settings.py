"""Which invoice or order a payment names, bulk intents, and the order-to-cash settings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.app.settings import load_settings
from paybridge.clock import ManualClock
from paybridge.errors import ConfigError
from paybridge.o2c.order_status import Documents, _documents
from paybridge.runtime.intents import DONE, SENT, IntentStore
from paybridge.store import open_engine


def test_an_open_invoice_is_marked_only_for_its_customer_and_its_remaining_amount() -> None:
    doc = _documents(
        "CIV-1",
        [{"Invoice": "CIV-1", "AccountNum": "US-001", "AmountCur": "100", "SettleAmountCur": "40"}],
        [{"InvoiceNumber": "CIV-1", "SalesOrderNumber": "000601"}],
        [],
    )
    assert doc.invoice_remaining == Decimal("60")
    assert doc.open_invoice_for("US-001", Decimal("60"))
    assert not doc.open_invoice_for("US-001", Decimal("60.01"))
    assert not doc.open_invoice_for("US-002", Decimal("1"))
    assert doc.order_for("US-001") == "000601" and doc.order_for("US-002") is None


def test_loose_matches_from_d365_are_dropped_and_orders_name_themselves() -> None:
    doc = _documents(
        "SO-7",
        [{"Invoice": "so-7", "AccountNum": "US-001", "AmountCur": "5", "SettleAmountCur": "0"}],
        [],
        [{"SalesOrderNumber": "SO-7", "OrderingCustomerAccountNumber": "US-003",
          "InvoiceCustomerAccountNumber": "US-004"}],
    )  # fmt: skip
    assert doc.invoice_account is None  # 'so-7' is not 'SO-7': F&O compares case-insensitively
    assert doc.order_for("US-004") == "SO-7" and doc.order_for(None) == "SO-7"
    assert Documents(ref="X").order_for("US-001") is None


def test_bulk_intents_plan_once_and_compare_and_set(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 10, tzinfo=UTC))
    store = IntentStore(open_engine(f"sqlite:///{tmp_path / 'i.db'}"), clock)
    bulk = store
    first = bulk.plan_many("s", "d365", [("k1", "r1", {"n": Decimal("1.10")}), ("k2", "r2", {})])
    again = bulk.plan_many("s", "d365", [("k1", "other", {"n": 2})])
    assert again["k1"].reference == "r1" and again["k1"].detail == {"n": Decimal("1.10")}
    claimed = bulk.claim_many([first["k1"], first["k1"]])
    assert claimed[0] is not None and claimed[1] is None  # the second is stale
    assert store.get("k1", "s").status == SENT  # type: ignore[union-attr]
    bulk.set_many([(first["k2"], DONE, {"id": "x"})])
    assert store.get("k2", "s").detail == {"id": "x"}  # type: ignore[union-attr]
    assert [i.event_key for i in bulk.by_step("s", DONE)] == ["k2"]


def test_o2c_settings_from_yaml_and_a_bad_cut_off(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "o2c:\n  missing_customer: create\n  post_journals: true\n  post_at: '17:30'\n"
        "sync:\n  enabled: true\n  customer_groups: ['30']\npoller:\n  overlap_seconds: 60\n",
        encoding="utf-8",
    )
    settings = load_settings(good, environ={})
    assert settings.o2c.missing_customer == "create" and settings.o2c.post_at == "17:30"
    assert settings.sync.customer_groups == ("30",) and settings.poller.overlap_seconds == 60
    assert settings.o2c.void_unposted == "reverse"  # the chaos invariant expects reversal lines
    bad = tmp_path / "bad.yaml"
    bad.write_text("o2c:\n  post_at: '25:00'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"o2c\.post_at"):
        load_settings(bad, environ={})
