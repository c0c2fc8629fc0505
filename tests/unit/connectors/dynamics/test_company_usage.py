"""D365 requests per company, and each company's fair turn while the budget is spent (issue 17
item 6: the D365 request budget shared fairly across companies)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import (
    Limits,
    Principal,
    PrincipalPool,
    ServiceBudget,
    StaticTokenProvider,
)
from paybridge.connectors.dynamics.usage import SHARED, CompanyUsage, company_of, company_scope

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "body", "company"),
    [
        ("/data/Lines?$filter=" + quote("(PaymentId eq 'PT-1-sale') and (dataAreaId eq 'USRT')"),
         None, "usrt"),
        ("/data/Lines?%24filter=dataAreaId+eq+%27usmf%27", None, "usmf"),
        ("/data/CustomersV3(dataAreaId='usrt',CustomerAccount='USRT-001')", None, "usrt"),
        ("/data/CustomersV3(dataAreaId=%27usrt%27,CustomerAccount=%27X%27)", None, "usrt"),
        ("/data/Lines", b'{"dataAreaId": "usmf", "LineNumber": 1}', "usmf"),
        ("/data/$metadata", None, SHARED),
    ],
)  # fmt: skip
def test_a_request_is_counted_for_the_company_it_names(
    url: str, body: bytes | None, company: str
) -> None:
    assert company_of(url, body) == company


def test_a_callers_scope_wins_over_what_the_request_names() -> None:
    with company_scope("USRT"):
        assert company_of("/data/Lines?$filter=dataAreaId eq 'usmf'") == "usrt"
    assert company_of("/data/Lines?$filter=dataAreaId eq 'usmf'") == "usmf"


def test_requests_leave_the_window_as_it_slides() -> None:
    clock = ManualClock()
    usage = CompanyUsage(10, clock=clock)
    usage.count("usmf")
    clock.advance(6)
    usage.count("usrt")
    usage.count("usrt")
    assert usage.in_window() == {"usmf": 1, "usrt": 2}
    clock.advance(5)
    assert usage.in_window() == {"usrt": 2}
    assert usage.totals == {"usmf": 1, "usrt": 2}


async def _calls(fair: bool) -> list[tuple[str, float]]:
    """One principal, 4 requests per 10 s; usmf queues 12 calls, then usrt 3. Time moves by
    half a second per round of the event loop, while everyone waits."""
    clock = ManualClock()

    async def advance(seconds: float) -> None:
        until = clock.monotonic() + seconds
        while clock.monotonic() < until:
            await asyncio.sleep(0)

    async def spin(_: float) -> None:
        await asyncio.sleep(0)

    budget = ServiceBudget(Limits(4, 10, None, 50), clock=clock, sleep=advance)
    pool = PrincipalPool([Principal("p", StaticTokenProvider("p"), None, budget)], clock=clock)
    usage = CompanyUsage(10, clock=clock, sleep=spin)
    started: list[tuple[str, float]] = []

    def saturated() -> bool:
        return all(p.wait_needed(clock.monotonic()) > 0 for p in pool.principals)

    async def call(company: str) -> None:
        if fair:
            await usage.admit(company, saturated)
        try:
            principal, ticket = await pool.acquire()
        finally:
            usage.through()
        usage.count(company)
        started.append((company, clock.monotonic()))
        principal.release(ticket)

    async def tick(calls: list[asyncio.Task[None]]) -> None:
        while not all(c.done() for c in calls):
            clock.advance(0.5)
            await asyncio.sleep(0)

    backlog = [asyncio.create_task(call("usmf")) for _ in range(12)]  # queued first
    for _ in range(3):
        await asyncio.sleep(0)
    others = [asyncio.create_task(call("usrt")) for _ in range(3)]
    await tick([*backlog, *others])
    return started


async def test_a_company_with_a_backlog_does_not_starve_another() -> None:
    fair = await _calls(fair=True)
    first_usrt = min(t for c, t in fair if c == "usrt")
    last_usrt = max(t for c, t in fair if c == "usrt")
    assert first_usrt <= 10.0  # its first call goes in the first window usmf has not filled
    assert last_usrt <= 20.0
    assert sum(1 for c, t in fair if c == "usmf" and t < last_usrt) <= 9
    # Without the turns the budget serves in arrival order: usrt waits for all of usmf.
    unfair = await _calls(fair=False)
    assert min(t for c, t in unfair if c == "usrt") >= 30.0
