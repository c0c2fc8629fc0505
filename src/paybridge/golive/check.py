"""Runs the access check: PayTrace and D365 side by side, then the clocks; one report."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient, TokenProvider
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.golive.dynamics import MappingCheck, check_dynamics
from paybridge.golive.paytrace import check_paytrace
from paybridge.golive.plan import AccessPlan
from paybridge.golive.report import AccessReport, CheckResult
from paybridge.golive.skew import check_skew


@dataclass
class PayTraceSide:
    client: PayTraceClient
    http: httpx.AsyncClient
    url: str


@dataclass
class DynamicsSide:
    client: DynamicsClient
    tokens: TokenProvider
    client_id: str
    http: httpx.AsyncClient
    mapping_check: MappingCheck


async def run_access_check(
    plan: AccessPlan,
    clock: Clock,
    *,
    paytrace: PayTraceSide | None,
    dynamics: DynamicsSide | None,
    preliminary: list[CheckResult] | None = None,
) -> AccessReport:
    """Every check of ``plan``; a side that could not be built (a secret missing) is None and
    its reason is among ``preliminary``."""
    started = time.monotonic()

    async def paytrace_part() -> list[CheckResult]:
        if paytrace is None:
            return []
        results = await check_paytrace(paytrace.client, plan)
        skew = await check_skew(
            "paytrace", paytrace.http, paytrace.url, clock, plan.max_skew_seconds
        )
        return [*results, skew]

    async def dynamics_part() -> list[CheckResult]:
        if dynamics is None:
            return []
        results = await check_dynamics(
            dynamics.client, dynamics.tokens, plan, dynamics.client_id, dynamics.mapping_check
        )
        url = dynamics.client.base_url
        skew = await check_skew("d365", dynamics.http, url, clock, plan.max_skew_seconds)
        return [*results, skew]

    pt, d365 = await asyncio.gather(paytrace_part(), dynamics_part())
    report = AccessReport([*(preliminary or []), *pt, *d365])
    report.seconds = time.monotonic() - started
    return report
