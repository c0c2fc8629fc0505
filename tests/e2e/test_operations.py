"""Operating the product: alerts reach a local SMTP sink and webhook receiver within 10 s of a dead
letter, /metrics shows the figures of every process, /ready answers, dead letters are triaged
and replayed from the CLI with who did it. ``serve`` and a ``worker`` run as separate processes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.product import World, open_world, wait_for
from tests.receivers import smtp_sink, standard_webhook_valid, webhook_receiver

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(b"e2e-alert-signing-secret-32bytes").decode()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def dead_ids(world: World, state: str = "open") -> dict[str, int]:
    """Key -> id of the dead letters ``dlq list --state`` shows."""
    shown = world.cli("dlq", "list", "--state", state).stdout
    return {
        m.group(2): int(m.group(1)) for m in re.finditer(r"│\s*(\d+)\s*│\s*(paytrace:\S+)", shown)
    }


def test_alerts_metrics_readiness_and_dead_letter_triage(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_HOOK_SECRET", SECRET)  # the processes inherit it (env: reference)
    with smtp_sink() as sink, webhook_receiver() as hooks:
        world.write_settings({
            "logging": {"format": "json"},
            "metrics": {"heartbeat_seconds": 1, "probe_seconds": 60},
            "alerting": {
                "evaluate_seconds": 1,
                "installation": "E2E PayBridge",
                "channels": {
                    "mail": {"type": "email", "host": sink.host, "port": sink.port,
                             "security": "none", "sender": "pb@e2e.test", "to": ["ops@e2e.test"]},
                    "hook": {"type": "webhook", "url": f"{hooks.url}/alerts",
                             "secret": "env:ALERT_HOOK_SECRET"},
                },
            },
        })  # fmt: skip
        tested = world.cli("alerts", "test")
        assert "✓ mail (email)" in tested.stdout and "✓ hook (webhook)" in tested.stdout
        assert len(sink.mails) == 1 and len(hooks.deliveries) == 1
        viewer = world.api_key("viewer")

        serve = world.start_engine("serve")
        worker = world.start_engine("worker")
        assert world.api_url is not None
        api = httpx.Client(base_url=world.api_url, timeout=10)
        watch = [serve, worker]

        for profile in ("US-001", "NOBODY-A", "NOBODY-B"):
            world.paytrace.create_customer(profile)
        posted = world.paytrace.sale_by_customer("US-001", "12.34", "E2E-OPS-1")
        lost_a = world.paytrace.sale_by_customer("NOBODY-A", "5.00", "E2E-OPS-2")
        lost_b = world.paytrace.sale_by_customer("NOBODY-B", "6.00", "E2E-OPS-3")

        dead = wait_for(
            "both sales of customers unknown to D365 are dead letters",
            lambda: dead_ids(world), lambda ids: len(ids) == 2, timeout=60, watch=watch,
        )  # fmt: skip
        key_b = f"paytrace:{lost_b}:sale"
        died = min(
            _time(json.loads(world.cli("dlq", "show", str(i)).stdout)["updated_at"])
            for i in dead.values()
        )
        mail = wait_for("the alert e-mail arrives", lambda: [m for m in sink.mails if "dead-letters" in m.subject],
                        timeout=15, watch=watch)[0]  # fmt: skip
        hook = wait_for("the signed webhook arrives",
                        lambda: [d for d in hooks.deliveries if d.json()["type"] == "alert.firing"],
                        timeout=15, watch=watch)[0]  # fmt: skip
        delays = (mail.wall - died, hook.wall - died)
        print(
            f"alert delay after the dead letter: e-mail {delays[0]:.2f} s, webhook {delays[1]:.2f} s"
        )
        assert max(delays) <= 10, delays
        assert mail.subject == "[E2E PayBridge] FIRING warning dead-letters: payment"
        assert standard_webhook_valid(hook, SECRET)
        assert hook.json()["data"]["subject"] == "payment"

        # /metrics: the store's figures and each process's own counters, from serve alone.
        wait_for(
            "D365 holds the good sale",
            lambda: world.dynamics.payment_lines(posted),
            timeout=60,
            watch=watch,
        )
        assert (api.get("/metrics")).status_code == 401

        def scrape() -> dict[Any, float]:
            reply = api.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
            reply.raise_for_status()
            return samples(reply.text)

        def complete(got: dict[Any, float]) -> bool:
            processes = {
                dict(labels)["process"] for n, labels in got if n == "paybridge_process_up"
            }
            d365 = sum(
                v
                for (n, labels), v in got.items()
                if n == "paybridge_http_requests_total" and dict(labels)["system"] == "dynamics"
            )
            latency = got.get(
                ("paybridge_approval_to_ledger_seconds_count", (("kind", "sale"),)), 0
            )
            return len(processes) == 2 and d365 > 0 and latency >= 1

        got = wait_for("/metrics shows both processes, D365 requests and the latency", scrape, complete,
                       timeout=30, watch=watch)  # fmt: skip
        assert got[("paybridge_dead_letters", (("state", "open"), ("topic", "payment")))] == 2
        assert got[("paybridge_alerts_firing", (("rule", "dead-letters"),))] == 1
        assert ("paybridge_queue_depth", (("status", "ready"), ("topic", "payment"))) in got
        ready = api.get("/ready")
        assert ready.status_code == 200, ready.text

        # Triage: one is resolved with a comment, the other fixed (a link) and replayed.
        world.cli("dlq", "resolve", str(dead[f"paytrace:{lost_a}:sale"]), "--comment", "refunded")
        world.cli("dlq", "comment", str(dead[key_b]), "customer is US-002", "--assignee", "ana")
        assert list(dead_ids(world)) == [key_b] and list(dead_ids(world, "resolved")) == [
            f"paytrace:{lost_a}:sale"
        ]
        why = world.cli("trace", lost_b).stdout
        assert (
            "dead after 1 attempts: " in why
            and "no D365 customer" in why
            and "comment by cli:" in why
        )
        world.cli("xref", "link", "NOBODY-B", "usmf/US-002")
        world.cli("dlq", "replay", str(dead[key_b]), "--comment", "linked to US-002")
        wait_for("the replayed sale reaches D365", lambda: world.dynamics.payment_lines(lost_b),
                 timeout=60, watch=watch)  # fmt: skip
        traced = world.cli("trace", lost_b, "--json").stdout
        (seen,) = json.loads(traced)["seen"]
        replay = [h for h in seen["message"]["history"] if h["action"] == "replay"]
        assert (
            replay
            and replay[0]["actor"].startswith("cli:")
            and "no D365 customer" in replay[0]["detail"]["dead_reason"]
        )
        audited = world.cli("audit", "list", "--action", "dlq.").stdout
        assert "dlq.resolve" in audited and "dlq.replay" in audited and "dlq.comment" in audited

    log = (world.tmp / "serve.log").read_text(encoding="utf-8")
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(e["logger"] == "paybridge.alerts" for e in entries)
    assert not any(e["logger"] == "httpx" for e in entries)  # quiet by default


def _time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
