"""PayTrace's part of the access check: the login, the integrator id, and the API user's rights
to the exports PayBridge reads (transactions, batches, the customer vault)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.requests import (
    CustomerExportRequest,
    ExportByDateRangeRequest,
)
from paybridge.errors import ConfigError, PayBridgeError
from paybridge.golive.plan import AccessPlan
from paybridge.golive.report import CheckResult, failed, from_error, ok

SYSTEM = "paytrace"
# A customer id no merchant uses: the vault export answers with nothing, or a "not found".
PROBE_CUSTOMER = "paybridge-access-check"
Probe = Callable[[], Awaitable[object]]


def _login_fix(exc: PayBridgeError) -> tuple[str, str]:
    if exc.status == 404 or "base_url" in exc.message:
        return "set paytrace.base_url to https://api.paytrace.com (no path)", "paytrace.base_url"
    if isinstance(exc, ConfigError):
        return (
            "PayTrace refused the API user's login: check paytrace.username and "
            "paytrace.password (an API user, not a web login)",
            "paytrace.username",
        )
    return "PayTrace did not answer: check paytrace.base_url and the network", "paytrace.base_url"


def _refused(exc: PayBridgeError) -> bool:
    """PayTrace's 981/998: the integrator id, or the user's rights, do not allow the call."""
    return isinstance(exc, ConfigError) and exc.status != 404


async def check_paytrace(client: PayTraceClient, plan: AccessPlan) -> list[CheckResult]:
    try:
        await client.log_in()
    except PayBridgeError as exc:
        fix, setting = _login_fix(exc)
        return [from_error(SYSTEM, "login", exc, fix, setting, essential=True)]
    results = [ok(SYSTEM, "login", "token issued", essential=True)]
    today = client.local_date(client.clock.now())
    probes: list[tuple[str, str, Probe, bool]] = [
        ("transaction export", "the change poller reads it", lambda: client.export_by_date_range(
            ExportByDateRangeRequest(start_date=today, end_date=today)), True),
    ]  # fmt: skip
    if plan.paytrace_batches:
        probes.append(("batch export", "reconciliation reads it", lambda: client.export_batches(
            today - timedelta(days=1), today), False))  # fmt: skip
    if plan.paytrace_vault:
        probes.append(("customer vault export", "customer matching and sync read it",
            lambda: client.export_customers(CustomerExportRequest(customer_id=PROBE_CUSTOMER)),
            False))  # fmt: skip
    outcomes: list[PayBridgeError | None] = []
    for _, _, probe, _ in probes:
        try:
            await probe()
            outcomes.append(None)
        except PayBridgeError as exc:
            outcomes.append(exc)
    refusals = [exc for exc in outcomes if exc is not None and _refused(exc)]
    if refusals and len(refusals) == len(outcomes):
        results.append(failed(
            SYSTEM, "integrator id", f"every call refused: {refusals[0].message}",
            "PayTrace refuses the integrator id: set paytrace.integrator_id to the id PayTrace "
            "issued for this integration (as env:NAME or vault:NAME)",
            "paytrace.integrator_id", essential=True,
        ))  # fmt: skip
        return results
    results.append(ok(SYSTEM, "integrator id", "accepted", essential=True))
    for (name, why, _, essential), outcome in zip(probes, outcomes, strict=True):
        results.append(_permission(name, why, outcome, essential))
    return results


def _permission(name: str, why: str, exc: PayBridgeError | None, essential: bool) -> CheckResult:
    if exc is None:
        return ok(SYSTEM, name, "allowed", essential=essential)
    if _refused(exc):
        fix = (
            f"the API user (paytrace.username) lacks the right to this export ({why}): "
            "grant it in PayTrace's user permissions"
        )
        return from_error(SYSTEM, name, exc, fix, "paytrace.username", essential=essential)
    fix = "PayTrace answered with an error: try again; if it stays, check paytrace.base_url"
    return from_error(SYSTEM, name, exc, fix, "paytrace.base_url", essential=essential)
