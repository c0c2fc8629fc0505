"""The shared fault layer: each fault kind, scripts, profiles, counts and the admin endpoint."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from paybridge_sandbox.faults import (
    ConnectionReset,
    DroppedConnection,
    FaultInjector,
    FaultPlan,
)
from tests.conftest import asgi_client
from tests.sandbox.paytrace.conftest import BILLING, VISA, Harness

pytestmark = pytest.mark.anyio
SALE = "/v1/transactions/sale/keyed"


async def test_commit_then_drop_keeps_the_sale_but_loses_the_answer(pt: Harness) -> None:
    pt.sandbox.faults.script("commit_then_drop", path=SALE)  # type: ignore[union-attr]
    with pytest.raises(httpx.ReadTimeout):
        await pt.sale("12.00", invoice_id="K-1")
    [record] = await pt.export(including_text="K-1")
    assert record["amount"] == 12
    assert pt.app.state.faults.report()["injected"] == {"commit_then_drop": 1}


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("commit_then_error_json", 500, "application/json"),
        ("commit_then_error_html", 502, "text/html"),
    ],
)
async def test_commit_then_error_keeps_the_sale_and_answers_a_5xx(
    pt: Harness, kind: str, status: int, content_type: str
) -> None:
    pt.sandbox.faults.script(kind, path=SALE)  # type: ignore[union-attr]
    reply = await pt.post(
        SALE, {"amount": "12.00", "invoice_id": f"{kind}-1", "credit_card": VISA,
               "billing_address": BILLING},
    )  # fmt: skip
    assert reply.status_code == status and reply.headers["content-type"].startswith(content_type)
    [record] = await pt.export(including_text=f"{kind}-1")  # the sale happened all the same
    assert record["amount"] == 12
    assert pt.app.state.faults.report()["injected"] == {kind: 1}


async def test_reset_happens_before_anything_is_done(pt: Harness) -> None:
    pt.sandbox.faults.script("reset", path=SALE)  # type: ignore[union-attr]
    with pytest.raises(httpx.ReadTimeout):
        await pt.sale(invoice_id="R-1")
    assert await pt.export() == []
    assert (await pt.sale())["success"] is True


async def test_error_json_html_and_throttle(pt: Harness) -> None:
    plan = pt.app.state.faults
    plan.script("error_json", path=SALE, status=500)
    plan.script("error_html", path=SALE)
    plan.script("throttle", path=SALE, retry_after=7)
    first = await pt.post(SALE, {"amount": 1})
    assert first.status_code == 500
    assert first.json()["injected"] is True
    second = await pt.post(SALE, {"amount": 1})
    assert second.status_code == 502
    assert second.headers["content-type"].startswith("text/html")
    assert "<h1>Bad Gateway</h1>" in second.text
    third = await pt.post(SALE, {"amount": 1})
    assert third.status_code == 429
    assert third.headers["retry-after"] == "7"
    assert await pt.export() == []
    assert plan.report()["total"] == 3


async def test_latency_uses_the_injected_sleep(pt: Harness) -> None:
    pt.app.state.faults.script("latency", path=SALE, latency_seconds=2.5)
    assert (await pt.sale())["success"] is True
    assert pt.slept == [2.5]


async def test_scripts_match_prefix_method_and_count(pt: Harness) -> None:
    plan = pt.app.state.faults
    plan.script("error_json", path="/v1/transactions/*", method="POST", times=2)
    assert (await pt.post(SALE, {})).status_code == 503
    assert (await pt.post("/v1/transactions/void", {})).status_code == 503
    assert (await pt.post(SALE, {"amount": 1})).status_code == 400  # script used up
    assert plan.report()["script"] == []


async def test_admin_endpoint_configures_and_reports(pt: Harness) -> None:
    command = {"script": [{"fault": "throttle", "path": SALE, "times": 1}]}
    response = await pt.client.post("/_sandbox/faults", json=command)
    assert response.json()["script"][0]["fault"] == "throttle"
    assert (await pt.post(SALE, {})).status_code == 429
    report = (await pt.client.get("/_sandbox/faults")).json()
    assert report["injected"] == {"throttle": 1}
    bad = await pt.client.post("/_sandbox/faults", json={"profile": "meltdown"})
    assert bad.status_code == 400


async def test_chaos_profile_is_seeded_and_mixes_every_kind() -> None:
    def run(seed: int) -> list[str | None]:
        plan = FaultPlan.named("chaos", seed=seed)
        return [f.kind if (f := plan.draw("POST", SALE)) else None for _ in range(2000)]

    first, again = run(3), run(3)
    assert first == again
    counts = Counter(first)
    assert set(counts) == {
        None,
        "error_json",
        "error_html",
        "throttle",
        "reset",
        "commit_then_drop",
        "commit_then_error_json",
        "commit_then_error_html",
        "latency",
    }
    assert 0.6 < counts[None] / 2000 < 0.8
    assert FaultPlan.named("none").draw("POST", SALE) is None


async def test_admin_paths_are_never_faulted() -> None:
    pt = Harness(faults=FaultPlan(profile="none"))
    pt.app.state.faults.script("error_json", times=5)
    assert (await pt.client.get("/_sandbox/state/summary")).status_code == 200
    assert (await pt.client.post("/oauth/token", data={})).status_code == 503


async def test_injector_wraps_any_asgi_app() -> None:
    calls: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        calls.append(str(scope["path"]))
        await send({"type": "http.response.start", "status": 201, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"made"})  # type: ignore[operator]

    injector = FaultInjector(app, "none")  # type: ignore[arg-type]
    injector.plan.script("commit_then_drop", path="/x")
    async with asgi_client(injector) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/x")
        assert (await client.post("/x")).status_code == 201
    assert calls == ["/x", "/x"]
    assert issubclass(ConnectionReset, DroppedConnection)


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultPlan().script("explode")
