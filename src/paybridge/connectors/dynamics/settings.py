"""``dynamics:`` settings: the F&O environment, how PayBridge signs in to it (Entra ID, or AD FS for
on-premises F&O), and the payment journal's defaults."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from paybridge.config import Section

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class AppRegistration(Section):
    """Another Entra app registration (or AD FS client) of the same tenant, mapped in F&O."""

    # Its application (client) id.
    client_id: str = Field(min_length=1)
    # A reference: env:NAME or vault:NAME.
    client_secret: SecretStr


class ServiceProtectionSettings(Section):
    """F&O's service protection for each principal (spec §2.12): PayBridge keeps its own calls
    within these, so a steady load meets no 429. ``share``: the part of each principal this
    process may use (1/N when N worker processes sign in as the same principals)."""

    # false: no budget is kept (429s and the token bucket still pace the calls).
    enabled: bool = True
    # Requests per principal per sliding window.
    requests: int = Field(default=6000, ge=1)
    # The sliding window, seconds.
    window_seconds: float = Field(default=300.0, gt=0)
    # Combined execution seconds of the principal's requests per window, as measured from
    # PayBridge's side (network and timeouts included); unset: not budgeted (F&O's 1,200 s is
    # server time, which PayBridge cannot see; its 429 and Retry-After still pace the calls).
    execution_seconds: float | None = Field(default=None, gt=0)
    # Requests of the principal in flight at once.
    concurrent: int = Field(default=52, ge=1)
    # The part of every principal this process uses: 1/N with N worker processes.
    share: float = Field(default=1.0, gt=0, le=1)


class DynamicsSettings(Section):
    base_url: str = "https://example.operations.dynamics.com"
    # Who issues PayBridge's token: entra (Microsoft Entra ID: cloud F&O) or adfs (AD FS:
    # on-premises F&O). With adfs, client_id and client_secret are the AD FS server
    # application's client identifier and shared secret, and tenant and authority_host are unused.
    auth: Literal["entra", "adfs"] = "entra"
    # AD FS only: the AD FS server, e.g. https://adfs.contoso.com (PayBridge posts to its
    # /adfs/oauth2/token), or the full token endpoint URL.
    adfs_url: str | None = None
    # AD FS only: the resource the token is for, the Web API identifier of the application
    # group (None: base_url, the AOS URL, which is what the on-premises set-up registers).
    adfs_resource: str | None = None

    tenant: str = "common"
    client_id: str = ""
    client_secret: SecretStr = SecretStr("env:DYNAMICS_CLIENT_SECRET")
    authority_host: str = "https://login.microsoftonline.com"
    # Sandbox/test hook: send the authority host's traffic to this base URL instead.
    login_redirect: str | None = None
    company: str = "usmf"
    timezone: str = "America/Los_Angeles"
    journal_name: str = "CustPay"
    journal_description: str = "PayTrace payments {day}"
    bank_account: str = "USMF OPER"
    payment_method: str = ""
    mark_invoices: bool = True
    # How a PayTrace customer finds its D365 account: the xref only (links made by customer
    # sync, ``paybridge xref link`` or created customers), or else a D365 account whose number
    # equals the PayTrace customer id. The second is for merchants who gave their PayTrace
    # profiles their D365 account numbers: anywhere else it would credit whichever account
    # happens to share an id, so it must be asked for.
    customer_match: Literal["xref", "xref_or_same_id"] = "xref"
    timeout_seconds: float = Field(default=60.0, gt=0)
    # Every D365 call of the process as one principal shares one token bucket (service
    # protection: about 6,000 requests per 5 minutes per principal); a 429 pauses that principal
    # for its Retry-After and lowers its rate.
    requests_per_second: float = Field(default=20.0, gt=0)
    # The bucket's burst, per principal.
    request_burst: int = Field(default=20, ge=1)
    # F&O's limits per principal, which PayBridge keeps its own calls within.
    service_protection: ServiceProtectionSettings = Field(default_factory=ServiceProtectionSettings)
    # More app registrations to spread the calls over (each has its own F&O budget); every
    # call goes out as the principal that can send soonest.
    principals: list[AppRegistration] = Field(default_factory=list)
    verify_tls: bool = True
    # Exact-key look-ups (a line by its PaymentId, an invoice by its number) ask for this many
    # keys in one read, as an `or` filter: fewer operations in a $batch, each costing F&O
    # execution time. 20 keys stay under ASP.NET OData's default limit of 100 filter nodes; a
    # read F&O refuses all the same is asked again key by key. 1: one read per key.
    keys_per_read: int = Field(default=20, ge=1, le=50)

    @model_validator(mode="after")
    def _distinct_principals(self) -> DynamicsSettings:
        seen = {self.client_id}
        for n, extra in enumerate(self.principals):
            if extra.client_id in seen:
                raise ValueError(
                    f"dynamics.principals[{n}].client_id: {extra.client_id!r} is already used "
                    "(each principal must be another app registration)"
                )
            seen.add(extra.client_id)
        return self

    @model_validator(mode="after")
    def _adfs(self) -> DynamicsSettings:
        if self.auth == "entra":
            if self.adfs_url is not None:
                raise ValueError(
                    "dynamics.adfs_url is set but dynamics.auth is entra: "
                    "set dynamics.auth: adfs to sign in through AD FS, or remove dynamics.adfs_url"
                )
            return self
        if not self.adfs_url:
            raise ValueError(
                "dynamics.adfs_url is required with dynamics.auth: adfs "
                "(the AD FS server, e.g. https://adfs.contoso.com)"
            )
        parts = urlsplit(self.adfs_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"dynamics.adfs_url: {self.adfs_url!r} is not a URL "
                "(the AD FS server, e.g. https://adfs.contoso.com)"
            )
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError(
                "dynamics.adfs_url must be https (the client secret travels in the request); "
                "plain http is for a sandbox on this machine only"
            )
        if self.login_redirect is not None:
            raise ValueError(
                "dynamics.login_redirect redirects Entra ID's traffic and has no effect with "
                "dynamics.auth: adfs: remove it"
            )
        return self
