"""The engine build_engine returns runs what docs/architecture.md says, and nothing less."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paybridge.app.engine import Engine
from paybridge.app.settings import Settings
from paybridge.billing.settings import BillingSettings
from paybridge.clock import ManualClock
from paybridge.customers.settings import CustomerSyncSettings
from paybridge.o2c.settings import CheckSettings, OrderToCashSettings
from paybridge.orders.settings import OrdersSettings
from paybridge.reconcile.settings import ReconcileSettings
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
CAPABILITIES = ("o2c", "customers", "charging", "billing", "orders", "reconcile", "ops")


@asynccontextmanager
async def engine_of(settings: Settings) -> AsyncIterator[Engine]:
    d365 = dynamics_app()
    async with sandbox_http(paytrace_app(), d365) as (pt_http, d_http):
        yield sandbox_engine(
            settings, clock=ManualClock(datetime(2026, 3, 10, tzinfo=UTC)),
            pt_http=pt_http, d_http=d_http, d365_app=d365,
        )  # fmt: skip


def documented() -> dict[str, tuple[set[str], set[str], set[str]]]:
    """capability -> (publishes, handles, jobs) from the table in docs/architecture.md."""
    rows: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in CAPABILITIES:
            publishes, handles, jobs = (set(re.findall(r"`([a-z0-9_.]+)`", c)) for c in cells[1:])
            jobs -= {
                "o2c.post_journals",
                "checks.enabled",
                "sync.enabled",
                "billing.enabled",
                "reconcile.schedule_at",
                "alerting.evaluate_seconds",
                "orders.enabled",
            }
            rows[cells[0]] = (publishes, handles, jobs)
    return rows


@pytest.mark.anyio
async def test_every_capability_contributes_what_the_architecture_page_says(
    tmp_path: Path,
) -> None:
    settings = sandbox_settings(
        tmp_path,
        o2c=OrderToCashSettings(post_journals=True),
        checks=CheckSettings(enabled=True),
        sync=CustomerSyncSettings(enabled=True),
        billing=BillingSettings(enabled=True),
        reconcile=ReconcileSettings(),
        orders=OrdersSettings(enabled=True),
    )
    async with engine_of(settings) as engine:
        built = {
            part.name: (set(part.publishes), set(part.handlers), {job.name for job in part.jobs})
            for part in engine.contributions
        }
        assert built == documented()
        assert set(engine.worker.handlers) == {t for _, h, _ in built.values() for t in h}
        assert {job.name for job in engine.scheduler.jobs} == {
            j for _, _, jobs in built.values() for j in jobs
        }
        # The D365 client paces every call through each principal's limiter and F&O budget.
        principals = engine.dynamics.principals.principals
        assert [p.client_id for p in principals] == [settings.dynamics.client_id]
        assert all(p.limiter is not None and p.budget is not None for p in principals)


@pytest.mark.anyio
async def test_jobs_follow_their_settings(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path, reconcile=ReconcileSettings(schedule_at=None))
    async with engine_of(settings) as engine:
        assert sorted(job.name for job in engine.scheduler.jobs) == [
            "alerts.evaluate",
            "charges.sweep",
            "paytrace.poll",
        ]
