"""The product within D365's service protection: two app registrations, no 429, every payment once.

The D365 sandbox runs with small per-principal limits (requests per sliding window and calls at
once) and a second app registration; `paybridge worker` is configured with the same limits and
both registrations. Judged over HTTP: every sale has one D365 line, the sandbox refused nothing,
and both principals carried calls.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.product import D365_TENANT, Dynamics, open_world, wait_for

pytestmark = pytest.mark.slow

ACCOUNTS = ["US-001", "US-002", "US-003"]
LIMITS = ["--throttle-requests", "12", "--throttle-window", "5", "--throttle-concurrent", "2",
          "--extra-clients", "2"]  # fmt: skip


class Auditor(Dynamics):
    """Reads D365 as a third app registration, so the test's reads use none of PayBridge's
    budget; at most one read a second (its own budget is the same as PayBridge's)."""

    last: tuple[float, Counter[str]] = (0.0, Counter())

    def lines(self) -> Counter[str]:
        if time.monotonic() - self.last[0] >= 1.0:
            found = self.query("CustomerPaymentJournalLines")
            self.last = (time.monotonic(), Counter(str(x.get("PaymentReference")) for x in found))
        return self.last[1]

    def _login(self) -> httpx.Response:
        return self.http.post(
            f"/{D365_TENANT}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": "sandbox-client-3",
                  "client_secret": "sandbox-secret-3", "scope": f"{self.url}/.default"},
        )  # fmt: skip


def test_the_worker_spreads_its_calls_over_two_principals_within_their_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMICS_CLIENT_SECRET_2", "sandbox-secret-2")
    with open_world(tmp_path, dynamics_args=LIMITS) as world:
        world.write_settings({
            "dynamics": {
                "principals": [{"client_id": "sandbox-client-2",
                                "client_secret": "env:DYNAMICS_CLIENT_SECRET_2"}],
                "service_protection": {"requests": 12, "window_seconds": 5, "concurrent": 2},
            },
            "worker": {"batch_size": 5},
        })  # fmt: skip
        for account in ACCOUNTS:
            world.paytrace.create_customer(account)
        sales = [world.paytrace.sale_by_customer(ACCOUNTS[n % 3], f"{n + 5}.25", f"WEB-P{n}")
                 for n in range(30)]  # fmt: skip
        engine = world.start_engine("worker")  # its access check's calls count too
        auditor = Auditor(world.dynamics.url)
        lines = wait_for(
            "every sale has its D365 line",
            auditor.lines,
            lambda found: all(found[s] >= 1 for s in sales),
            timeout=120,
            watch=[engine],
        )
        usage = world.dynamics.summary()["throttle"]["principals"]
        auditor.close()
    assert {s: lines[s] for s in sales if lines[s] != 1} == {}
    ours = {c: u for c, u in usage.items() if c in ("sandbox-client", "sandbox-client-2")}
    assert {c: u["refused"] for c, u in ours.items()} == {
        "sandbox-client": 0,
        "sandbox-client-2": 0,
    }, usage
    assert all(u["requests_total"] > 0 for u in ours.values()), usage
