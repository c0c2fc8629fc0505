"""The two systems' clients from settings: secrets resolved, one D365 limiter, templates loaded."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from paybridge.app.settings import Settings
from paybridge.clock import Clock
from paybridge.config import resolve_secret
from paybridge.connectors.dynamics import (
    AdfsTokenProvider,
    DynamicsClient,
    MsalTokenProvider,
    RequestLimiter,
    TokenProvider,
)
from paybridge.connectors.dynamics.transport import RedirectTransport
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.console.designer import MappingVersions
from paybridge.errors import ConfigError
from paybridge.mapping import TemplateSet, compile_text, load_overlay, load_templates

Vault = Callable[[str], str]


def msal_provider(
    settings: Settings, http_client: httpx.Client | None = None, vault: Vault | None = None
) -> MsalTokenProvider:
    d = settings.dynamics
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
        d.client_id,
        resolve_secret(d.client_secret, "dynamics.client_secret", vault=vault),
        f"{d.authority_host.rstrip('/')}/{d.tenant}",
        f"{d.base_url.rstrip('/')}/.default",
        http_client=http_client,
    )


def adfs_provider(
    settings: Settings, http: httpx.AsyncClient, vault: Vault | None = None
) -> AdfsTokenProvider:
    """AD FS client credentials (on-premises F&O): ``dynamics.auth: adfs``."""
    d = settings.dynamics
    assert d.adfs_url is not None  # the settings refuse adfs without it
    return AdfsTokenProvider(
        d.adfs_url,
        d.client_id,
        resolve_secret(d.client_secret, "dynamics.client_secret", vault=vault),
        d.adfs_resource or d.base_url,
        http=http,
    )


def dynamics_tokens(
    settings: Settings, http: httpx.AsyncClient, vault: Vault | None = None
) -> TokenProvider:
    """D365's tokens as ``dynamics.auth`` says: Entra ID through MSAL, or AD FS over ``http``."""
    if settings.dynamics.auth == "adfs":
        return adfs_provider(settings, http, vault)
    return msal_provider(settings, vault=vault)


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


def dynamics_client(
    settings: Settings,
    http: httpx.AsyncClient,
    clock: Clock,
    vault: Vault | None,
    tokens: TokenProvider | None = None,
) -> DynamicsClient:
    """The D365 client; every call of the process goes through one shared request limiter.

    Without ``tokens``, an AD FS token request goes over ``http`` too."""
    d = settings.dynamics
    return DynamicsClient(
        http,
        base_url=d.base_url,
        token_provider=tokens or dynamics_tokens(settings, http, vault),
        clock=clock,
        limiter=RequestLimiter(rate=d.requests_per_second, burst=d.request_burst),
    )


async def fetch_metadata(settings: Settings) -> bytes:
    """The configured D365 environment's ``$metadata`` document."""
    async with httpx.AsyncClient(
        verify=settings.dynamics.verify_tls, timeout=settings.dynamics.timeout_seconds
    ) as http:
        tokens = dynamics_tokens(settings, http, open_vault(settings))
        client = DynamicsClient(http, base_url=settings.dynamics.base_url, token_provider=tokens)
        return await client.metadata_document()
