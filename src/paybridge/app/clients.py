"""The two systems' clients from settings: secrets resolved, one D365 limiter, templates loaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx
from pydantic import SecretStr

from paybridge.app.settings import Settings
from paybridge.clock import Clock
from paybridge.config import resolve_secret
from paybridge.connectors.dynamics import (
    AdfsTokenProvider,
    DynamicsClient,
    Limits,
    MsalTokenProvider,
    Principal,
    PrincipalPool,
    RequestLimiter,
    ServiceBudget,
    TokenProvider,
)
from paybridge.connectors.dynamics.transport import RedirectTransport
from paybridge.connectors.dynamics.usage import CompanyUsage
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.console.designer import MappingVersions
from paybridge.errors import ConfigError
from paybridge.keys import DEFAULT_ACCOUNT
from paybridge.mapping import TemplateSet, compile_text, load_overlay, load_templates

Vault = Callable[[str], str]


Login = tuple[str, SecretStr, str]  # client id, secret reference, the setting that holds it


def _main_login(settings: Settings) -> Login:
    d = settings.dynamics
    return d.client_id, d.client_secret, "dynamics.client_secret"


def logins(settings: Settings) -> list[Login]:
    """Every D365 principal of the settings: ``dynamics.client_id`` first, then ``principals``."""
    extra = [
        (p.client_id, p.client_secret, f"dynamics.principals[{n}].client_secret")
        for n, p in enumerate(settings.dynamics.principals)
    ]
    return [_main_login(settings), *extra]


def msal_provider(
    settings: Settings,
    http_client: httpx.Client | None = None,
    vault: Vault | None = None,
    login: Login | None = None,
) -> MsalTokenProvider:
    d = settings.dynamics
    client_id, secret, setting = login or _main_login(settings)
    if http_client is None and d.login_redirect:
        http_client = httpx.Client(
            transport=RedirectTransport(
                {d.authority_host: d.login_redirect}, transport=httpx.HTTPTransport()
            ),
            timeout=d.timeout_seconds,
        )
    elif http_client is None:
        # MSAL over httpx too: the same TLS trust as every other call (SSL_CERT_FILE, verify_tls).
        http_client = httpx.Client(verify=d.verify_tls, timeout=d.timeout_seconds)
    return MsalTokenProvider(
        client_id,
        resolve_secret(secret, setting, vault=vault),
        f"{d.authority_host.rstrip('/')}/{d.tenant}",
        f"{d.base_url.rstrip('/')}/.default",
        http_client=http_client,
    )


def adfs_provider(
    settings: Settings,
    http: httpx.AsyncClient,
    vault: Vault | None = None,
    login: Login | None = None,
) -> AdfsTokenProvider:
    """AD FS client credentials (on-premises F&O): ``dynamics.auth: adfs``."""
    d = settings.dynamics
    assert d.adfs_url is not None  # the settings refuse adfs without it
    client_id, secret, setting = login or _main_login(settings)
    return AdfsTokenProvider(
        d.adfs_url,
        client_id,
        resolve_secret(secret, setting, vault=vault),
        d.adfs_resource or d.base_url,
        http=http,
    )


def dynamics_tokens(
    settings: Settings,
    http: httpx.AsyncClient,
    vault: Vault | None = None,
    login: Login | None = None,
) -> TokenProvider:
    """D365's tokens as ``dynamics.auth`` says: Entra ID through MSAL, or AD FS over ``http``."""
    if settings.dynamics.auth == "adfs":
        return adfs_provider(settings, http, vault, login)
    return msal_provider(settings, vault=vault, login=login)


def open_vault(settings: Settings) -> Vault:
    """``vault:NAME`` resolution for commands that build no engine (``check``, ``mapping
    check``): the store and its vault are opened on the first vault reference only."""
    opened: list[Vault] = []

    def get(name: str) -> str:
        if not opened:
            from paybridge.app.store import open_store
            from paybridge.security.context import open_security

            store = open_store(settings.store.url)
            opened.append(open_security(store.engine, audit=settings.audit).vault.get)
        return opened[0](name)

    return get


def templates_for(settings: Settings, versions: MappingVersions | None = None) -> TemplateSet:
    """The templates the engine maps with: the shipped ones, the configured folder's over them,
    and over both the versions promoted in the console's designer (``versions``, the store's)."""
    folder = settings.mapping.templates_dir
    base = load_overlay(folder) if folder is not None else load_templates()
    if versions is None:
        return base
    promoted = []
    for saved in versions.promoted():
        compiled, problems = compile_text(saved.text, saved.file)
        if compiled is None:  # it compiled when saved: a newer PayBridge refuses what it wrote
            raise ConfigError(
                f"mapping: promoted version {saved.name}@{saved.version} ({saved.file}) no "
                f"longer compiles: " + "; ".join(str(p) for p in problems[:3]),
                operation="mapping",
            )
        promoted.append(compiled)
    mine = {t.ref for t in promoted}
    return TemplateSet([*(t for t in base if t.ref not in mine), *promoted])


def paytrace_client(
    settings: Settings, http: httpx.AsyncClient, clock: Clock, vault: Vault | None
) -> PayTraceClient:
    pt = settings.paytrace
    return PayTraceClient(
        http,
        username=resolve_secret(pt.username, "paytrace.username", vault=vault),
        password=resolve_secret(pt.password, "paytrace.password", vault=vault),
        integrator_id=resolve_secret(pt.integrator_id, "paytrace.integrator_id", vault=vault),
        base_url=pt.base_url,
        clock=clock,
        timeout=pt.timeout_seconds,
        check_export_path=pt.check_export_path,
    )


def paytrace_accounts(
    settings: Settings,
    http: httpx.AsyncClient,
    clock: Clock,
    vault: Vault | None,
    default: PayTraceClient | None = None,
) -> PayTraceAccounts:
    """Every merchant account of the settings with its own client (one session and token each,
    over the one ``http``): the main ``paytrace:`` account bound to ``dynamics.company``, then
    ``paytrace.accounts``, each bound to its ``company``."""
    pt, d = settings.paytrace, settings.dynamics
    main = MerchantAccount(
        name=DEFAULT_ACCOUNT, company=d.company.lower(),
        client=default or paytrace_client(settings, http, clock, vault),
        currency=pt.currency.upper(), timezone=pt.timezone, bank_account=d.bank_account,
    )  # fmt: skip
    others = []
    for n, account in enumerate(pt.accounts):
        where = f"paytrace.accounts[{n}]"
        client = PayTraceClient(
            http,
            username=resolve_secret(account.username, f"{where}.username", vault=vault),
            password=resolve_secret(account.password, f"{where}.password", vault=vault),
            integrator_id=resolve_secret(
                account.integrator_id, f"{where}.integrator_id", vault=vault
            ),
            base_url=account.base_url or pt.base_url,
            clock=clock,
            timeout=pt.timeout_seconds,
            check_export_path=pt.check_export_path,
        )
        others.append(
            MerchantAccount(
                name=account.name, company=account.company.lower(), client=client,
                currency=(account.currency or pt.currency).upper(),
                timezone=account.timezone or pt.timezone,
                bank_account=account.bank_account or d.bank_account,
            )
        )  # fmt: skip
    return PayTraceAccounts(main, others)


def dynamics_client(
    settings: Settings,
    http: httpx.AsyncClient,
    clock: Clock,
    vault: Vault | None,
    tokens: TokenProvider | None = None,
    spent: Sequence[float] = (),
) -> DynamicsClient:
    """The D365 client over every principal of the settings; each principal's calls of the
    process share one request limiter and one service-protection budget.

    Without ``tokens``, an AD FS token request goes over ``http`` too; ``tokens`` (tests)
    replaces the first principal's. ``spent``: when the start-up check's calls as the first
    principal ended, counted in its window."""
    d = settings.dynamics
    principals = []
    for n, login in enumerate(logins(settings)):
        provider = tokens if n == 0 and tokens is not None else None
        principals.append(
            Principal(
                login[0],
                provider or dynamics_tokens(settings, http, vault, login),
                RequestLimiter(rate=d.requests_per_second, burst=d.request_burst),
                service_budget(settings),
            )
        )
    first = principals[0].budget
    if first is not None:
        first.preload(spent)
    # The limiters keep the system's monotonic time, whatever clock the engine is handed.
    # Requests per company are counted over the service-protection window.
    usage = CompanyUsage(d.service_protection.window_seconds)
    return DynamicsClient(
        http, base_url=d.base_url, clock=clock, principals=PrincipalPool(principals), usage=usage,
        keys_per_read=d.keys_per_read,
    )  # fmt: skip


def service_budget(settings: Settings) -> ServiceBudget | None:
    """One principal's part of F&O's limits for this process (None: switched off)."""
    sp = settings.dynamics.service_protection
    if not sp.enabled:
        return None
    limits = Limits(sp.requests, sp.window_seconds, sp.execution_seconds, sp.concurrent)
    return ServiceBudget(limits.scaled(sp.share))


async def fetch_metadata(settings: Settings) -> bytes:
    """The configured D365 environment's ``$metadata`` document."""
    async with httpx.AsyncClient(
        verify=settings.dynamics.verify_tls, timeout=settings.dynamics.timeout_seconds
    ) as http:
        tokens = dynamics_tokens(settings, http, open_vault(settings))
        client = DynamicsClient(http, base_url=settings.dynamics.base_url, token_provider=tokens)
        return await client.metadata_document()
