"""What a chaos run stands on: both sandboxes as processes, the settings file, the shop's customers.

The settings are the product's defaults except where a run of minutes needs otherwise, each said
below: clients' timeouts of a few seconds (so the sandboxes' stalls go past them), short retry
delays (never fewer attempts), the cut-off job posting every few seconds, and the short-lease
variant when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from paybridge.app.clients import msal_provider
from paybridge.app.settings import Settings
from paybridge.app.store import open_store
from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest, PayTraceClient
from paybridge.harness import chaos_charges, chaos_orders
from paybridge.harness.chaos_ops import wait_ready
from paybridge.keys import (
    ALERT_TOPIC,
    CHARGE_RESOLVE_TOPIC,
    ORDER_PAYMENT_TOPIC,
    PAYMENT_TOPIC,
    UNREADABLE_TOPIC,
)

BIN = Path(sys.executable).parent
SECRETS = {
    "PAYTRACE_USERNAME": "sandbox",
    "PAYTRACE_PASSWORD": "sandbox",
    "PAYTRACE_INTEGRATOR_ID": "SANDBOX00001",
    "DYNAMICS_CLIENT_SECRET": "sandbox-secret",
}
MERCHANT_TZ = "America/Los_Angeles"  # the product's and the PayTrace sandbox's default zone
# The shop's PayTrace profiles and the D365 account each one's payments belong to. Most are named
# like their account (the same-id rule finds them); SHOP-A and SHOP-B are linked by the xref, and
# profile US-009 is linked to another account than its namesake: the xref must win.
PROFILES = {f"US-{n:03d}": f"US-{n:03d}" for n in range(1, 11)} | {
    "SHOP-A": "US-006",
    "SHOP-B": "US-008",
    "US-009": "US-010",
}
LINKED = ("SHOP-A", "SHOP-B", "US-009")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The run's own calls to the sandboxes' admin routes: a loaded machine answers late, and a run
# that gives up on its own bookkeeping proves nothing.
ADMIN_TIMEOUT = 120.0


@dataclass
class Sandboxes:
    paytrace: str
    dynamics: str
    processes: list[asyncio.subprocess.Process]

    async def set_faults(self, profile: str, seed: int, stall: tuple[float, float]) -> None:
        for base in (self.paytrace, self.dynamics):
            await self.configure(base, {"profile": profile, "seed": seed, "stall_seconds": stall})

    async def configure(self, base: str, command: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=ADMIN_TIMEOUT) as client:
            reply = await client.post(f"{base}/_sandbox/faults", json=command)
            reply.raise_for_status()
            data: dict[str, Any] = reply.json()
            return data

    async def injected(self) -> dict[str, Counter[str]]:
        """Faults injected so far, per system and kind."""
        out: dict[str, Counter[str]] = {}
        async with httpx.AsyncClient(timeout=ADMIN_TIMEOUT) as client:
            for name, base in (("paytrace", self.paytrace), ("dynamics", self.dynamics)):
                report = (await client.get(f"{base}/_sandbox/faults")).json()
                out[name] = Counter({k: int(v) for k, v in report.get("injected", {}).items()})
        return out

    async def advance_clocks(self, seconds: float) -> None:
        """Both sandboxes' clocks ``seconds`` ahead (they only move forward)."""
        async with httpx.AsyncClient(timeout=120) as client:
            for base in (self.paytrace, self.dynamics):
                reply = await client.post(
                    f"{base}/_sandbox/clock/advance", json={"seconds": seconds}
                )
                reply.raise_for_status()

    async def stop(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), timeout=5)


async def start_sandboxes(logs: Path) -> Sandboxes:
    procs = []
    urls = []
    for system, probe in (("paytrace", "/_sandbox/state/summary"), ("dynamics", "/_sandbox/state")):
        port = free_port()
        log = (logs / f"{system}.log").open("wb")
        procs.append(
            await asyncio.create_subprocess_exec(
                str(BIN / "paybridge-sandbox"), system, "--port", str(port), stdout=log, stderr=log
            )
        )
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url + probe)
        urls.append(url)
    return Sandboxes(urls[0], urls[1], procs)


SHORT_LEASE_BATCH = 5


def worker_config(
    path: Path,
    sandboxes: Sandboxes,
    store_url: str,
    web_port: int = 8080,
    *,
    client_timeout: float = 5.0,
    lease_seconds: float | None = None,
    short_retries: bool = True,
    orders: bool = False,
) -> Path:
    """The run's settings file. ``lease_seconds`` None keeps the product's default lease (and
    batch size);
    ``short_retries`` waits less between attempts (never fewer attempts), so that an outage of
    a minute exhausts them; without it the product's default backoff."""
    # The short lease is for fencing: small batches, so that many writes are in flight and a
    # worker frozen mid-write holds few messages (the others are taken over sooner).
    lease = (
        f"\n  lease_seconds: {lease_seconds}\n  batch_size: {SHORT_LEASE_BATCH}"
        if lease_seconds is not None
        else ""
    )
    retry = "".join(
        f"\n    {topic}:\n      base_seconds: 0.5\n      cap_seconds: 4"
        for topic in (
            PAYMENT_TOPIC, UNREADABLE_TOPIC, CHARGE_RESOLVE_TOPIC, ALERT_TOPIC, ORDER_PAYMENT_TOPIC
        )
        if short_retries
    )  # fmt: skip
    # Card orders (``chaos_orders``): watched every second; a refund above 100 waits for an
    # approval; a refund of a capture not settled yet is asked again a second later.
    card_orders = (
        f"""orders:
  enabled: true
  interval_seconds: 1
  refund_approval_above: "{chaos_orders.APPROVAL_ABOVE}"
  unsettled_retry_seconds: 1
"""
        if orders
        else ""
    )
    retry = f"\n  retry:{retry}" if retry else ""
    worker = f"worker:{lease}{retry}\n" if lease or retry else ""
    config = path / "paybridge.yaml"
    config.write_text(
        f"""store:
  url: {store_url}
paytrace:
  base_url: {sandboxes.paytrace}
  username: env:PAYTRACE_USERNAME
  password: env:PAYTRACE_PASSWORD
  integrator_id: env:PAYTRACE_INTEGRATOR_ID
  poll_interval_seconds: 0.5
  timeout_seconds: {client_timeout}
  timezone: {MERCHANT_TZ}
dynamics:
  base_url: {sandboxes.dynamics}
  tenant: sandbox-tenant
  client_id: sandbox-client
  client_secret: env:DYNAMICS_CLIENT_SECRET
  login_redirect: {sandboxes.dynamics}
  timeout_seconds: {client_timeout}
  timezone: {MERCHANT_TZ}
  # The storefront names its PayTrace profiles like the D365 accounts.
  customer_match: xref_or_same_id
{worker}o2c:
  # The engine's cut-off job posts the day's journals as the run goes (cut-off 00:00).
  post_journals: true
  post_at: "00:00"
  post_interval_seconds: 3
poller:
  state_interval_seconds: 1
reconcile:
  schedule_at: null
  # The sandbox's payment journal books straight to the bank: no clearing account to empty.
  settlement_journal: false
web:
  host: 127.0.0.1
  port: {web_port}
  charge_burst: 1000
  charge_rate_per_second: 1000
charging:
  # Past the PayTrace client's timeout: a charge not found by then was not made.
  in_doubt_grace_seconds: {client_timeout + 10}
  sweep_interval_seconds: 5
billing:
  enabled: true
  interval_seconds: 2
  timezone: {MERCHANT_TZ}
  in_doubt_grace_seconds: {client_timeout + 10}
{card_orders}""",
        encoding="utf-8",
    )
    return config


async def open_profiles(client: PayTraceClient) -> list[str]:
    """The shop's stored card profiles (see ``PROFILES``)."""
    for profile in PROFILES:
        await client.create_customer(
            CustomerCreateRequest(
                customer_id=profile,
                credit_card=CreditCard(
                    number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
                ),
                billing_address=Address(name=f"Chaos {profile}", zip="98101"),
            )
        )
    return sorted(PROFILES)


def link_profiles(store_url: str, clock: Clock) -> None:
    """What ``paybridge xref link`` does, for the profiles the API phase charges and those not
    named like their D365 account (in-process: one CLI start per link would slow every run)."""
    store = open_store(store_url, clock)
    for profile in (*chaos_charges.INVOICES.values(), *LINKED):
        store.xref.link("paytrace_customer", profile, f"usmf/{PROFILES[profile]}")
    store.engine.dispose()


def dynamics_client(http: httpx.AsyncClient, boxes: Sandboxes) -> DynamicsClient:
    settings = Settings(
        dynamics=DynamicsSettings(
            base_url=boxes.dynamics, tenant="sandbox-tenant", client_id="sandbox-client",
            client_secret=SecretStr("sandbox-secret"), login_redirect=boxes.dynamics,
        )
    )  # fmt: skip
    return DynamicsClient(http, base_url=boxes.dynamics, token_provider=msal_provider(settings))
