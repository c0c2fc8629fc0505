"""Service protection per principal: requests and execution time per window, concurrency, Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from paybridge_sandbox.dynamics import (
    ClientRegistration,
    DynamicsSandboxSettings,
    SandboxClock,
    ThrottleSettings,
    create_app,
)
from paybridge_sandbox.dynamics.errors import ODataError
from paybridge_sandbox.dynamics.protection import Throttle
from tests.conftest import asgi_client
from tests.sandbox.dynamics.support import BASE, START, authorised, inner_message, token

pytestmark = pytest.mark.anyio

TWO_CLIENTS = (
    ClientRegistration("sandbox-client", "sandbox-secret"),
    ClientRegistration("sandbox-client-2", "sandbox-secret-2"),
)


class FakeSleep:
    """Records emulated work; ``gate`` (when set) holds every sleeper until it opens."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.gate is not None:
            await self.gate.wait()


def app_with(
    throttle: ThrottleSettings, sleep: FakeSleep | None = None, work: float = 0.0
) -> object:
    settings = DynamicsSandboxSettings(
        rng_seed=7, clients=TWO_CLIENTS, throttle=throttle, work_seconds_per_operation=work
    )
    return create_app(settings, clock=SandboxClock(START), sleep=sleep)


async def client_for(app: object, client_id: str, secret: str) -> httpx.AsyncClient:
    async with asgi_client(app, BASE) as first:
        access = await token(first, client_id, secret)
    client = asgi_client(app, BASE)
    client.headers["Authorization"] = f"Bearer {access}"
    return client


async def test_requests_per_window_are_counted_per_principal_with_computed_retry_after() -> None:
    app = app_with(ThrottleSettings(requests=3, window_seconds=10, retry_after_seconds=None,
                                    resource_message=False))  # fmt: skip
    clock = app.state.sandbox.clock  # type: ignore[attr-defined]
    one = await client_for(app, "sandbox-client", "sandbox-secret")
    two = await client_for(app, "sandbox-client-2", "sandbox-secret-2")
    async with one, two:
        first = [(await one.get("/data/Currencies")).status_code]
        clock.advance(4)
        first += [(await one.get("/data/Currencies")).status_code for _ in range(2)]
        refused = await one.get("/data/Currencies")
        other = await two.get("/data/Currencies")  # another principal has its own budget
        clock.advance(6)  # the first request leaves the window: one more fits
        again = await one.get("/data/Currencies")
        refused_again = await one.get("/data/Currencies")
    assert first == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "6"  # the first request leaves the window at t=10
    assert inner_message(refused) == (
        "Number of requests exeeded the limit of 3 over the time window of 10 seconds."
    )
    assert other.status_code == 200
    assert again.status_code == 200
    assert refused_again.status_code == 429 and refused_again.headers["Retry-After"] == "4"


async def test_execution_time_per_window_counts_the_emulated_work() -> None:
    sleep = FakeSleep()
    limits = ThrottleSettings(execution_seconds=1.0, window_seconds=60, retry_after_seconds=None)
    app = app_with(limits, sleep, work=0.4)
    clock = app.state.sandbox.clock  # type: ignore[attr-defined]
    async with await client_for(app, "sandbox-client", "sandbox-secret") as client:
        statuses = [(await client.get("/data/Currencies")).status_code for _ in range(3)]
        refused = await client.get("/data/Currencies")
        clock.advance(61)
        after = await client.get("/data/Currencies")
    assert statuses == [200, 200, 200]  # 0.8 s spent before the third: under 1.0
    assert refused.status_code == 429
    assert inner_message(refused).startswith(
        "Combined execution time of incoming requests exceeded limit of 1 seconds over time "
        "window of 60 seconds."
    )
    assert refused.headers["Retry-After"] == "60"
    assert after.status_code == 200
    assert sleep.slept[:3] == [0.4, 0.4, 0.4]


async def test_a_batch_is_charged_per_operation() -> None:
    sleep = FakeSleep()
    app = app_with(ThrottleSettings(execution_seconds=100.0), sleep, work=0.01)
    body = (
        "".join(
            f"--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"GET {BASE}/data/Currencies HTTP/1.1\r\nAccept: application/json\r\n\r\n"
            for _ in range(5)
        )
        + "--b--\r\n"
    )
    async with await client_for(app, "sandbox-client", "sandbox-secret") as client:
        reply = await client.post(
            "/data/$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=b"}
        )
    assert reply.status_code == 200, reply.text
    assert sleep.slept == [pytest.approx(0.05)]
    report = app.state.sandbox.throttle.report()  # type: ignore[attr-defined]
    assert report["principals"]["sandbox-client"]["execution_seconds_in_window"] >= 0.05


async def test_concurrent_requests_over_the_limit_are_refused_until_one_ends() -> None:
    sleep = FakeSleep()
    sleep.gate = asyncio.Event()
    app = app_with(ThrottleSettings(concurrent=2, retry_after_seconds=None), sleep, work=1.0)
    async with await client_for(app, "sandbox-client", "sandbox-secret") as client:
        held = [asyncio.create_task(client.get("/data/Currencies")) for _ in range(2)]
        while len(sleep.slept) < 2:
            await asyncio.sleep(0)
        refused = await client.get("/data/Currencies")
        sleep.gate.set()
        done = [(await task).status_code for task in held]
        after = await client.get("/data/Currencies")
    assert refused.status_code == 429
    assert inner_message(refused) == "Number of concurrent requests exceeded the limit of 2."
    assert refused.headers["Retry-After"] == "1"
    assert done == [200, 200] and after.status_code == 200


async def test_fno_limits_and_admin_switch() -> None:
    app = create_app(DynamicsSandboxSettings(rng_seed=7), clock=SandboxClock(START))
    async with await authorised(app) as client:
        on = await client.post("/_sandbox/throttle", json={"fno": True})
        await client.get("/data/Currencies")
        state = (await client.get("/_sandbox/state")).json()["throttle"]
        bad = await client.post("/_sandbox/throttle", json={"window_seconds": 5})
    assert on.json()["throttle"]["requests"] == 6000
    assert state["execution_seconds"] == 1200 and state["concurrent"] == 52
    assert state["principals"]["sandbox-client"]["requests_in_window"] == 1
    assert bad.status_code == 400 and "requests" in bad.json()["error"]


def test_a_refused_request_is_not_counted_and_retry_after_can_be_fixed() -> None:
    throttle = Throttle(ThrottleSettings(requests=1, window_seconds=10, retry_after_seconds=30))
    throttle.admit("a", 0.0)
    throttle.release("a", 0.1, 0.1)
    for at in (1.0, 2.0):
        with pytest.raises(ODataError) as refused:
            throttle.admit("a", at)
        assert refused.value.headers == {"Retry-After": "30"}
    throttle.admit("a", 10.5)  # two refusals did not extend the window
    assert throttle.usage["a"].refused == 2


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="requests must be > 0"):
        ThrottleSettings(requests=0)
    with pytest.raises(ValueError, match="window_seconds"):
        ThrottleSettings(requests=1, window_seconds=0)
