"""The fault kinds the chaos run adds: an answer held past the client's timeout after the commit,
and an outage; and the clock the run lives the DST fall-back night on."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from paybridge.harness.chaos_clock import dst_shift, next_fall_back, shifted_env
from paybridge_sandbox.faults import FaultInjector, FaultPlan


def counting_app(done: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        done.append(scope["path"])
        body = json.dumps({"ok": True}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def test_a_stalled_answer_comes_after_the_commit_and_the_stall() -> None:
    done: list[str] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        assert done == ["/v1/pay"]  # the work was done before the answer was held
        slept.append(seconds)

    plan = FaultPlan()
    plan.script("commit_then_stall", path="/v1/pay", latency_seconds=7.5)
    app = FaultInjector(counting_app(done), plan, sleep=sleep)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/pay")

    reply = asyncio.run(call())
    assert (reply.status_code, reply.json(), slept) == (200, {"ok": True}, [7.5])
    assert plan.report()["injected"] == {"commit_then_stall": 1}


def test_a_fault_scripted_on_a_body_hits_only_the_writes_and_the_app_reads_the_body() -> None:
    """The late answers of the short-lease chaos run go to ``$batch`` requests that write journal
    lines, not to the look-ups' ``$batch`` of reads; the app still gets the body it was sent."""
    bodies: list[bytes] = []
    slept: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        bodies.append(b"".join(chunks))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    plan = FaultPlan()
    plan.configure({"script": [{
        "fault": "commit_then_stall", "path": "/data/$batch", "method": "POST", "times": 1,
        "latency_seconds": 4, "body_contains": "Lines HTTP/1.1",
    }]})  # fmt: skip
    injector = FaultInjector(app, plan, sleep=sleep)
    read = b"GET http://d/data/Lines?$filter=x HTTP/1.1\r\n" * 50
    write = b"POST http://d/data/Lines HTTP/1.1\r\n{}"

    async def call() -> None:
        transport = httpx.ASGITransport(app=injector)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/data/$batch", content=read)  # a read: no fault
            await client.post("/data/other", content=write)  # another path: no fault
            assert slept == []
            await client.post("/data/$batch", content=write)  # the write: held
            await client.post("/data/$batch", content=write)  # spent: no fault

    asyncio.run(call())
    assert bodies == [read, write, write, write]
    assert slept == [4] and plan.report()["injected"] == {"commit_then_stall": 1}


def test_the_storm_stalls_within_the_range_it_is_given() -> None:
    plan = FaultPlan.named("storm", seed=3)
    plan.configure({"stall_seconds": [6, 9]})
    stalls = [
        fault.latency_seconds
        for fault in (plan.draw("POST", "/x") for _ in range(3000))
        if fault is not None and fault.kind == "commit_then_stall"
    ]
    assert stalls and all(6 <= s <= 9 for s in stalls)


def test_an_outage_refuses_every_request_until_switched_off() -> None:
    plan = FaultPlan.named("outage")
    kinds = {getattr(plan.draw("GET", f"/data/{n}"), "kind", None) for n in range(200)}
    assert kinds == {"error_json"}
    plan.configure({"profile": "none"})
    assert plan.draw("GET", "/data/x") is None


def test_the_run_starts_just_before_the_next_fall_back() -> None:
    now = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    assert next_fall_back(now, "America/Los_Angeles") == datetime(2027, 11, 7, 9, tzinfo=UTC)
    assert next_fall_back(now, "America/New_York") == datetime(2027, 11, 7, 6, tzinfo=UTC)
    shift, fall_back = dst_shift("America/Los_Angeles", 20, now)
    assert fall_back.timestamp() - (now.timestamp() + shift) == 20
    env = shifted_env({"PYTHONPATH": "/elsewhere"}, shift)
    assert env["PYTHONPATH"].endswith("/elsewhere") and "chaos_time" in env["PYTHONPATH"]
    assert shifted_env({"A": "1"}, 0) == {"A": "1"}


def test_a_process_started_with_the_shift_lives_at_the_shifted_time() -> None:
    import os
    import subprocess
    import sys

    shift, fall_back = dst_shift("America/Los_Angeles", 20)
    env = shifted_env(dict(os.environ), shift)
    code = "from paybridge.clock import SystemClock; print(SystemClock().now().isoformat())"
    said = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    seen = datetime.fromisoformat(said.strip())
    assert 0 < (fall_back - seen).total_seconds() <= 20
