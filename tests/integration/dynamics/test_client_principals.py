"""The client against the sandbox's service protection: paced below it, spread over principals."""

from __future__ import annotations

import pytest

from paybridge.clock import ManualClock, sequential_ids
from paybridge.connectors.dynamics import (
    DynamicsClient,
    Limits,
    MsalTokenProvider,
    Principal,
    PrincipalPool,
    RequestLimiter,
    ServiceBudget,
)
from paybridge_sandbox.dynamics import (
    ClientRegistration,
    DynamicsSandboxSettings,
    SandboxClock,
    ThrottleSettings,
    create_app,
)
from tests.conftest import asgi_client
from tests.integration.dynamics.test_client_sandbox_support import (
    BASE,
    START,
    FakeTime,
    login_client,
)

pytestmark = pytest.mark.anyio

LOGINS = [("sandbox-client", "sandbox-secret"), ("sandbox-client-2", "sandbox-secret-2")]


async def reads(principals: int, calls: int) -> tuple[FakeTime, dict[str, object], list[int]]:
    """``calls`` reads through a pool of ``principals``; F&O allows 3 per 60 s per principal."""
    sandbox_clock = SandboxClock(START)
    limits = ThrottleSettings(requests=3, window_seconds=60, retry_after_seconds=None)
    settings = DynamicsSandboxSettings(
        rng_seed=7,
        clients=tuple(ClientRegistration(c, s) for c, s in LOGINS),
        throttle=limits,
    )
    app = create_app(settings, clock=sandbox_clock)
    time = FakeTime(ManualClock(START), sandbox_clock)
    with login_client(app) as login:
        pool = []
        for client_id, secret in LOGINS[:principals]:
            tokens = MsalTokenProvider.for_environment(
                "sandbox-tenant", client_id, secret, BASE, http_client=login
            )
            budget = ServiceBudget(Limits(3, 60, 1000, 10), clock=time.clock, sleep=time.sleep)
            bucket = RequestLimiter(100, 100, clock=time.clock, sleep=time.sleep)
            pool.append(Principal(client_id, tokens, bucket, budget))
        async with asgi_client(app, BASE) as http:
            client = DynamicsClient(
                http, base_url=BASE, clock=time.clock, sleep=time.sleep,
                principals=PrincipalPool(pool, clock=time.clock), id_factory=sequential_ids(),
            )  # fmt: skip
            counts = [len(await client.query("Currencies")) for _ in range(calls)]
    report = app.state.sandbox.throttle.report()
    assert report is not None
    return time, report, counts


async def test_one_principal_is_paced_to_the_limit_without_a_single_429() -> None:
    time, report, counts = await reads(1, 7)
    principals = report["principals"]
    assert isinstance(principals, dict)
    assert principals["sandbox-client"]["refused"] == 0
    assert all(n > 0 for n in counts)
    # 7 reads at 3 per 60 s: the 7th may start at 120 s, and not before.
    assert time.clock.monotonic() == pytest.approx(120.0)


async def test_two_principals_share_the_load_and_double_the_budget() -> None:
    time, report, _ = await reads(2, 12)
    principals = report["principals"]
    assert isinstance(principals, dict)
    assert {c: p["refused"] for c, p in principals.items()} == {
        "sandbox-client": 0,
        "sandbox-client-2": 0,
    }
    # 6 per 60 s over two principals: the 12th read starts at 60 s, half the time of one.
    assert time.clock.monotonic() == pytest.approx(60.0)
