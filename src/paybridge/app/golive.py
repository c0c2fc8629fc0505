"""The access check from settings: what to look at (``access_plan``), the clients with their
secrets resolved (vault or environment), and the run (``check_access``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from paybridge.app.clients import dynamics_tokens, open_vault, service_budget, templates_for
from paybridge.app.schema import metadata_schemas
from paybridge.app.settings import Settings
from paybridge.app.store import open_store
from paybridge.clock import Clock, SystemClock
from paybridge.config import resolve_secret
from paybridge.connectors.dynamics import (
    DynamicsClient,
    Principal,
    PrincipalPool,
    RequestLimiter,
    TokenProvider,
)
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.errors import ConfigError, PayBridgeError
from paybridge.golive import (
    AccessPlan,
    AccessReport,
    CheckResult,
    EntityNeed,
    FieldNeed,
    RecordNeed,
)
from paybridge.golive.check import DynamicsSide, PayTraceSide, run_access_check
from paybridge.golive.report import failed, ok
from paybridge.mapping import check_templates


def _entities(settings: Settings) -> list[EntityNeed]:
    o2c, sync = settings.o2c, settings.sync
    creates = o2c.missing_customer == "create" or (sync.enabled and sync.to_d365)
    needs = [
        EntityNeed("CustomerPaymentJournalHeaders", True, "one payment journal per company and day"),
        EntityNeed("CustomerPaymentJournalLines", True, "a line per payment"),
        EntityNeed("CustomersV3", creates, "customers of payments" + (", created" if creates else "")),
        EntityNeed("SalesInvoiceHeadersV2", False, "invoices a payment settles"),
        EntityNeed("SalesOrderHeadersV2", o2c.order_hold, "orders a payment is for"),
        EntityNeed("CustTransactions", False, "open amounts of charged documents", essential=False),
    ]  # fmt: skip
    if settings.reconcile.settlement_journal:
        needs += [
            EntityNeed("LedgerJournalHeaders", True, "settlement journals", essential=False),
            EntityNeed("LedgerJournalLines", True, "settlement journal lines", essential=False),
        ]
    return needs


def _records(settings: Settings) -> list[RecordNeed]:
    d = settings.dynamics
    company = d.company.lower()
    records = [
        RecordNeed("company", "LegalEntities", (("LegalEntityId", company),), "dynamics.company",
                   hint="a legal entity (dataAreaId) of this environment"),
        RecordNeed("journal name", "JournalNames", (("dataAreaId", company), ("Name", d.journal_name)),
                   "dynamics.journal_name", (("Type", "CustPayment"),),
                   hint="a journal name of type CustPayment"),
        RecordNeed("bank account", "BankAccounts",
                   (("dataAreaId", company), ("BankAccountId", d.bank_account)), "dynamics.bank_account"),
    ]  # fmt: skip
    if d.payment_method:
        records.append(RecordNeed(
            "payment method", "CustomerPaymentMethods",
            (("dataAreaId", company), ("Name", d.payment_method)), "dynamics.payment_method",
        ))  # fmt: skip
    if settings.reconcile.settlement_journal:
        records += _reconcile_records(settings)
    return records


def _reconcile_records(settings: Settings) -> list[RecordNeed]:
    records: list[RecordNeed] = []
    for name, co in settings.reconcile.companies.items():
        where = f"reconcile.companies.{name}"
        company = name.lower()
        records.append(RecordNeed(
            f"settlement journal name ({company})", "JournalNames",
            (("dataAreaId", company), ("Name", co.journal_name)), f"{where}.journal_name",
            (("Type", "Daily"),), essential=False, hint="a journal name of type Daily",
        ))  # fmt: skip
        banks = {co.bank_account: f"{where}.bank_account"}
        clearing = {co.clearing_account: f"{where}.clearing_account"}
        for brand, override in co.brands.items():
            if override.bank_account:
                banks.setdefault(override.bank_account, f"{where}.brands.{brand}.bank_account")
            if override.clearing_account:
                clearing.setdefault(
                    override.clearing_account, f"{where}.brands.{brand}.clearing_account"
                )
        for account, setting in banks.items():
            records.append(RecordNeed(
                f"settlement bank account ({company})", "BankAccounts",
                (("dataAreaId", company), ("BankAccountId", account)), setting, essential=False,
            ))  # fmt: skip
        for account, setting in clearing.items():
            records.append(RecordNeed(
                f"clearing main account ({company})", "MainAccounts",
                (("MainAccountId", account),), setting, essential=False,
            ))  # fmt: skip
    return records


def _fields(settings: Settings) -> list[FieldNeed]:
    o2c, sync = settings.o2c, settings.sync
    fields = [
        FieldNeed("SalesOrderHeadersV2", name, f"o2c.{setting}")
        for setting, name in (
            ("order_status_field", o2c.order_status_field),
            ("order_reason_field", o2c.order_reason_field),
        )
        if name
    ]
    if sync.enabled:
        for setting, name in (
            ("profile_id_field", sync.profile_id_field),
            ("masked_card_field", sync.masked_card_field),
        ):
            if name:
                fields.append(FieldNeed("CustomersV3", name, f"sync.{setting}"))
        fields += [
            FieldNeed("CustomersV3", name, f"sync.discretionary_fields.{name}")
            for name in sync.discretionary_fields
        ]
    return fields


def access_plan(settings: Settings) -> AccessPlan:
    """What ``paybridge check`` looks at for these settings."""
    o2c = settings.o2c
    return AccessPlan(
        company=settings.dynamics.company.lower(),
        entities=tuple(_entities(settings)),
        records=tuple(_records(settings)),
        fields=tuple(_fields(settings)),
        posting_service=o2c.posting_service if o2c.post_journals else None,
        d365_auth=settings.dynamics.auth,
    )


def _mapping_check(settings: Settings) -> Callable[[bytes], list[str]]:
    templates = list(templates_for(settings))

    def problems(document: bytes) -> list[str]:
        return [str(p) for p in check_templates(templates, metadata_schemas(document))]

    return problems


@contextlib.asynccontextmanager
async def _http(
    verify: bool, timeout: float, given: httpx.AsyncClient | None
) -> AsyncIterator[httpx.AsyncClient]:
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(verify=verify, timeout=timeout) as http:
        yield http


def _store_check(settings: Settings) -> CheckResult:
    try:
        open_store(settings.store.url).engine.dispose()
    except Exception as exc:  # any driver's error: the store cannot be opened
        return failed("paybridge", "store", f"{type(exc).__name__}: {exc}"[:300],
                      "set store.url to a database PayBridge can open", "store.url", essential=True)  # fmt: skip
    return ok("paybridge", "store", "opened", essential=True)


def _secret_failure(exc: ConfigError) -> CheckResult:
    if exc.operation == "token":  # MsalTokenProvider refused the authority
        return failed("d365", "token", exc.message, "set dynamics.authority_host to an https URL",
                      "dynamics.authority_host", essential=True)  # fmt: skip
    setting = exc.message.split(":", 1)[0]
    return failed("paybridge", "secret", exc.message,
                  f"set {setting} to env:NAME (with NAME in the environment) or vault:NAME "
                  "(stored with `paybridge vault set NAME`)", setting, essential=True)  # fmt: skip


async def check_access(
    settings: Settings,
    *,
    clock: Clock | None = None,
    paytrace_http: httpx.AsyncClient | None = None,
    dynamics_http: httpx.AsyncClient | None = None,
    token_provider: TokenProvider | None = None,
    store: bool = True,
) -> AccessReport:
    """``paybridge check``: every check, over clients built from ``settings`` (or injected).

    ``store=False`` leaves the store alone (the start-up gate: the engine opens it next)."""
    clock = clock or SystemClock()
    preliminary = [_store_check(settings)] if store else []
    vault = open_vault(settings)
    pt, d = settings.paytrace, settings.dynamics
    async with (
        _http(pt.verify_tls, pt.timeout_seconds, paytrace_http) as pt_http,
        _http(d.verify_tls, d.timeout_seconds, dynamics_http) as d_http,
    ):
        try:
            paytrace: PayTraceSide | None = PayTraceSide(PayTraceClient(
                pt_http, base_url=pt.base_url, clock=clock, timeout=pt.timeout_seconds,
                username=resolve_secret(pt.username, "paytrace.username", vault=vault),
                password=resolve_secret(pt.password, "paytrace.password", vault=vault),
                integrator_id=resolve_secret(pt.integrator_id, "paytrace.integrator_id", vault=vault),
            ), pt_http, pt.base_url)  # fmt: skip
        except ConfigError as exc:
            paytrace = None
            preliminary.append(_secret_failure(exc))
        try:
            tokens = token_provider or dynamics_tokens(settings, d_http, vault)
            # Paced like the engine's calls, so a check never spends more than the budget.
            only = Principal(
                d.client_id,
                tokens,
                RequestLimiter(rate=d.requests_per_second, burst=d.request_burst),
                service_budget(settings),
            )
            client = DynamicsClient(
                d_http, base_url=d.base_url, clock=clock, retries=1,
                principals=PrincipalPool([only]),
            )  # fmt: skip
            dynamics: DynamicsSide | None = DynamicsSide(
                client, tokens, d.client_id, d_http, _mapping_check(settings)
            )
        except ConfigError as exc:
            dynamics = None
            preliminary.append(_secret_failure(exc))
        try:
            report = await run_access_check(
                access_plan(settings), clock, paytrace=paytrace, dynamics=dynamics,
                preliminary=preliminary,
            )  # fmt: skip
            if dynamics is not None and only.budget is not None:
                report.d365_calls = only.budget.counted()
            return report
        except PayBridgeError as exc:  # a check that should have caught its own error
            raise ConfigError(f"access check: {exc}", operation="check") from exc


def store_secret(config: Path, name: str, value: str) -> None:
    """Put one secret into the vault of the store ``config`` names (``paybridge init``)."""
    from paybridge.app.settings import load_settings
    from paybridge.security.context import open_security

    settings = load_settings(config, environ={})
    store = open_store(settings.store.url)
    open_security(store.engine, audit=settings.audit).vault.set(name, value)
