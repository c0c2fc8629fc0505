"""Insight as a product: `paybridge serve` with `insight.enabled`, both sandboxes as processes.

A sale far above the customer's usual (with the sandbox's AVS "No Match") is held: D365 does not
get it while it waits; an operator releases it through the API (or the CLI) and it is posted
exactly once. Nothing is imported from ``paybridge``; see ``product.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.product import World, open_world, stays, wait_for

pytest.importorskip("sklearn", reason="needs the insight extra")
pytestmark = pytest.mark.slow

PROFILE = "SHOP-E2E-INSIGHT"
SETTINGS = {
    # Rules only until a model is trained: AVS "No Match" (2 points) and an amount 5x the
    # customer's usual (3 points) make 5 of 26 points, 0.19.
    "insight": {"enabled": True, "threshold": 0.19, "recheck_seconds": 1},
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def held(world: World) -> list[dict[str, Any]]:
    shown = world.cli("insight", "review", "list", "--json")
    rows: list[dict[str, Any]] = json.loads(shown.stdout)
    return rows


def one_line(world: World, tid: str) -> dict[str, Any]:
    assert world.engine is not None
    wait_for(
        f"D365 holds a payment line for PayTrace transaction {tid}",
        lambda: world.dynamics.payment_lines(tid),
        lambda found: len(found) >= 1,
        timeout=40,
        watch=[world.engine],
    )
    (line,) = stays(
        f"exactly one D365 line for {tid}",
        lambda: world.dynamics.payment_lines(tid),
        lambda found: len(found) == 1,
        seconds=2.0,
        watch=[world.engine],
    )
    return line


def wait_held(world: World, tid: str) -> dict[str, Any]:
    assert world.engine is not None
    key = f"paytrace:{tid}:sale"
    rows = wait_for(
        f"`paybridge insight review list` shows {key} held",
        lambda: [r for r in held(world) if r["key"] == key],
        timeout=40,
        watch=[world.engine],
    )
    stays(
        f"D365 has no line for the held sale {tid}",
        lambda: world.dynamics.payment_lines(tid),
        lambda found: found == [],
        seconds=3.0,  # several rechecks (recheck_seconds: 1)
        watch=[world.engine],
    )
    return rows[0]


def test_a_suspicious_sale_is_held_then_posted_once_when_released(world: World) -> None:
    world.paytrace.create_customer(PROFILE)
    world.write_settings(SETTINGS)
    world.cli("xref", "link", PROFILE, "usmf/US-001")
    world.start_engine("serve")
    for n, amount in enumerate(("10.00", "12.00", "11.00")):
        one_line(world, world.paytrace.sale_by_customer(PROFILE, amount, f"WEB-I-{n}"))

    spike = world.paytrace.sale_by_customer(PROFILE, "900.00", "WEB-I-SPIKE")
    row = wait_held(world, spike)
    assert row["score"] >= 0.19 and row["model_version"] == "rules-only"
    assert any("x the customer's usual" in reason for reason in row["reasons"]), row

    operator = world.api_key("operator")
    with world.api(operator) as api:
        listed = api.get("/v1/insight/reviews").json()
        assert [r["key"] for r in listed] == [row["key"]]
        refused = api.post("/v1/insight/reviews/paytrace:1:sale/release", json={})
        assert refused.status_code == 422, refused.text
        done = api.post(f"/v1/insight/reviews/{row['key']}/release", json={"note": "called back"})
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "released"
        again = api.post(f"/v1/insight/reviews/{row['key']}/release", json={})
        assert again.status_code == 422 and "not held" in again.text
    line = one_line(world, spike)
    assert line["PaymentId"] == f"PT-{spike}-sale"

    # A second one, released from the command line this time.
    second = world.paytrace.sale_by_customer(PROFILE, "950.00", "WEB-I-SPIKE-2")
    key = wait_held(world, second)["key"]
    shown = world.cli("insight", "review", "release", key, "--note", "known customer")
    assert "released" in shown.stdout
    one_line(world, second)
    assert len(world.dynamics.payment_lines(spike)) == 1


def test_a_viewer_cannot_release_a_held_payment(world: World) -> None:
    world.write_settings(SETTINGS)
    world.start_engine("serve")
    with world.api(world.api_key("viewer")) as api:
        assert api.get("/v1/insight/reviews").status_code == 200
        refused = api.post("/v1/insight/reviews/paytrace:1:sale/release", json={})
        assert refused.status_code == 403, refused.text


def paytrace_record(world: World, tid: str) -> dict[str, Any]:
    (record,) = [t for t in world.paytrace.transactions() if str(t["transaction_id"]) == tid]
    return record


def facts_done(world: World, tid: str) -> dict[str, str]:
    """Fact key -> its queue message's status, from ``paybridge trace <tid> --json``."""
    shown = json.loads(world.cli("trace", tid, "--json").stdout)
    return {s["key"]: (s["message"] or {}).get("status", "") for s in shown["seen"]}


def audit_rows(world: World, action: str) -> list[dict[str, Any]]:
    shown = world.cli("audit", "list", "--action", action, "--json")
    return [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]


def test_an_operator_voids_a_held_sale_and_d365_never_gets_it(world: World) -> None:
    """The policy action "void before settlement (operator approval)": a held sale is voided in
    PayTrace on an operator's decision (CLI, then API), D365 gets no line for it, not even when
    the poller brings PayTrace's void fact, and every decision is in the audit log."""
    world.paytrace.create_customer(PROFILE)
    world.write_settings(SETTINGS)
    world.cli("xref", "link", PROFILE, "usmf/US-001")
    world.start_engine("serve")
    for n, amount in enumerate(("10.00", "12.00", "11.00")):
        one_line(world, world.paytrace.sale_by_customer(PROFILE, amount, f"WEB-V-{n}"))

    stolen = world.paytrace.sale_by_customer(PROFILE, "900.00", "WEB-V-STOLEN")
    key = wait_held(world, stolen)["key"]
    shown = world.cli("insight", "review", "confirm", key, "--void", "--note", "stolen card")
    assert "confirmed as fraud" in shown.stdout, shown.stdout
    assert paytrace_record(world, stolen)["status_message"].lower().startswith("void")

    # A second one, voided through the API by an operator (a viewer may not).
    second = world.paytrace.sale_by_customer(PROFILE, "950.00", "WEB-V-STOLEN-2")
    key2 = wait_held(world, second)["key"]
    with world.api(world.api_key("viewer")) as api:
        refused = api.post(f"/v1/insight/reviews/{key2}/confirm", json={"void": True})
        assert refused.status_code == 403, refused.text
    with world.api(world.api_key("operator")) as api:
        done = api.post(f"/v1/insight/reviews/{key2}/confirm", json={"void": True, "note": "bot"})
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "confirmed"
        again = api.post(f"/v1/insight/reviews/{key2}/confirm", json={"void": True})
        assert again.status_code == 200 and "already confirmed" in again.text
    assert paytrace_record(world, second)["status_message"].lower().startswith("void")

    # The poller brings PayTrace's void facts; the engine handles them (screened, then posting
    # finds no line of the sale to reverse) and ends the held sales' messages unposted.
    assert world.engine is not None
    for tid in (stolen, second):
        both = {f"paytrace:{tid}:sale": "done", f"paytrace:{tid}:void": "done"}
        wait_for(
            f"`paybridge trace {tid}`: its sale and void messages done",
            lambda tid=tid: facts_done(world, tid),
            lambda done, both=both: done == both,
            timeout=40,
            watch=[world.engine],
        )
    stays(
        "D365 has no line, sale or credit, for the voided sales",
        lambda: world.dynamics.payment_lines(stolen) + world.dynamics.payment_lines(second),
        lambda found: found == [],
        seconds=3.0,
        watch=[world.engine],
    )
    confirmed = {r["key"]: r for r in held(world) + json.loads(
        world.cli("insight", "review", "list", "--state", "confirmed", "--json").stdout)}  # fmt: skip
    assert set(confirmed) == {key, key2}, confirmed

    voids = audit_rows(world, "insight.void")
    assert sorted((r["target"], r["outcome"]) for r in voids) == sorted([(key, "ok"), (key2, "ok")])
    assert {r["detail"]["transaction_id"] for r in voids} == {int(stolen), int(second)}
    confirms = {r["target"]: r for r in audit_rows(world, "insight.confirm")}
    assert set(confirms) == {key, key2}
    assert confirms[key]["actor"].startswith("cli:") and confirms[key]["detail"]["void"] is True
    assert confirms[key2]["actor"].startswith("key:") and confirms[key2]["detail"]["note"] == "bot"
