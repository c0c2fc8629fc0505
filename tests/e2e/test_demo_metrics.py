"""After a demo run, as the README says: `paybridge demo` keeps running with its API, and a
scrape of its /metrics reads the demo's own figures: the payments it posted, the charges it made,
the requests it sent, nothing waiting, dead or in doubt, a reconciliation without differences."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.product import BIN, Process, process_env, wait_for

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(got: Samples, name: str, **match: str) -> float:
    """The sum of ``name``'s samples whose labels include ``match``."""
    return sum(
        value
        for (n, labels), value in got.items()
        if n == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


def test_metrics_after_a_demo_run_count_the_demos_payments(tmp_path: Path) -> None:
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = subprocess.Popen(
            [str(BIN / "paybridge"), "demo", "--payments", "30", "--timeout", "180"],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=tmp_path,
            env=process_env(),
        )  # fmt: skip
    demo = Process("paybridge demo", popen, err)
    try:
        said = wait_for(
            "the demo has told its story and keeps running",
            lambda: err.read_text(encoding="utf-8"), lambda text: "Demo running" in text,
            timeout=200, watch=[demo],
        )  # fmt: skip
        summary: dict[str, Any] = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
        assert summary["posted"] == summary["approved"] and summary["duplicates"] == 0
        (url,) = re.findall(r"curl (http://127\.0\.0\.1:\d+/metrics)", said)

        def scrape() -> Samples:
            reply = httpx.get(url, timeout=10)  # the demo's API is local: no key asked
            reply.raise_for_status()
            return samples(reply.text)

        # Each process's own counters arrive with its next heartbeat (every second in the demo).
        got = wait_for(
            "/metrics has the demo process's requests", scrape,
            lambda s: total(s, "paybridge_http_requests_total", system="dynamics") > 0,
            timeout=20, watch=[demo],
        )  # fmt: skip

        # Every D365 payment line the demo posted is in the approval -> ledger histogram: a sale
        # for each approved storefront sale, the API charge and the subscription's charge, and
        # the void, refund and capture lines; and the second company's sales (issue 17: its own
        # PayTrace account, posted in usrt).
        latency = "paybridge_approval_to_ledger_seconds_count"
        second = summary["second_company_posted"]
        assert second >= 2 and second == summary["second_company_approved"]
        assert total(got, latency) == summary["expected_lines"] + second
        # D365 driving PayTrace: the pay link's sale and the ACH sale, the card order's two
        # captures and its refund.
        linked, ach = bool(summary["paylink_paid"]), int(summary["ach_returned"])
        assert total(got, latency, kind="sale") == (
            summary["approved"] + summary["charges"] + summary["subscription_charges"] + second
            + linked + ach
        )  # fmt: skip
        order_refund = int(summary["order_refund"] == "refunded")
        assert total(got, latency, kind="void") == summary["voids"]
        assert total(got, latency, kind="refund") == summary["refunds"] + order_refund
        assert (
            total(got, latency, kind="capture") == summary["captures"] + summary["order_captures"]
        )
        # Charges by outcome: the API charge (its replay is the same charge) and the pay link's
        # (charged through the same service), and the subscription.
        assert (
            total(got, "paybridge_charges", source="api", status="approved")
            == summary["charges"] + linked
        )
        assert (
            total(got, "paybridge_charges", source="billing", status="approved")
            == summary["subscription_charges"]
        )
        # Queue depth and age per topic: the payment topic is reported, and nothing waits.
        assert ("paybridge_queue_depth", (("status", "ready"), ("topic", "payment"))) in got
        assert total(got, "paybridge_queue_depth") == 0
        assert total(got, "paybridge_queue_oldest_age_seconds", topic="payment") == 0
        assert total(got, "paybridge_dead_letters", state="open") == summary["dead_letters"] == 0
        assert total(got, "paybridge_intents_in_doubt") == 0
        assert total(got, "paybridge_reconciliation_differences", company="usmf") == 0
        assert total(got, "paybridge_reconciliation_differences", company="usrt") == 0
        assert summary["reconciliation"] == "matched"
        # The demo process: one heartbeat, up; its requests to both systems, no 429 nor error.
        (process,) = {dict(labels)["process"] for n, labels in got if n == "paybridge_process_up"}
        assert total(got, "paybridge_process_up", process=process) == 1
        assert total(got, "paybridge_http_requests_total", process=process, system="paytrace") > 0
        assert total(got, "paybridge_http_errors_total", kind="throttled") == 0
        assert total(got, "paybridge_http_errors_total") == 0
        done = total(got, "paybridge_worker_messages_total", outcome="done", process=process)
        assert done >= summary["expected_lines"]
        assert total(got, "paybridge_worker_messages_total", outcome="dead") == 0
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)  # Ctrl-C
        code = popen.wait(timeout=30)
    assert code == 0, demo.tail()
    assert "stopped" in err.read_text(encoding="utf-8")
