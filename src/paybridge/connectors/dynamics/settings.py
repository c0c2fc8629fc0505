"""``dynamics:`` settings: the F&O environment, its Entra ID app, and the payment journal's defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from paybridge.config import Section


class DynamicsSettings(Section):
    base_url: str = "https://example.operations.dynamics.com"
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
    # Every D365 call of the process shares one token bucket (service protection: about 6,000
    # requests per 5 minutes per principal); a 429 lowers the rate for everyone.
    requests_per_second: float = Field(default=20.0, gt=0)
    request_burst: int = Field(default=20, ge=1)
    verify_tls: bool = True
