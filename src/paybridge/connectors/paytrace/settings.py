"""``paytrace:`` settings: where the gateway is, the credentials' references, the merchant's zone,
and the merchant accounts of other D365 legal entities (``paytrace.accounts``)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from paybridge.config import Section

# An account's name qualifies its facts' keys (``paytrace:<name>/<id>:<kind>``): no ``:`` or ``/``.
_ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _iso_4217(value: str, setting: str) -> str:
    if len(value) != 3 or not value.isalpha():
        raise ValueError(f"{setting} must be an ISO 4217 code such as USD")
    return value


class PayTraceAccount(Section):
    """One more PayTrace merchant account, bound to the D365 legal entity ``company``.

    Credentials are ``env:``/``vault:`` references like the main account's; URL, time zone and
    currency default to the main account's."""

    # Lower-case letters, digits, ``-`` and ``_``: it qualifies the keys of this account's facts.
    name: str
    # The D365 legal entity (dataAreaId) this account's payments are posted to and charged for.
    company: str
    # The account's API user name: a reference, env:NAME or vault:NAME.
    username: SecretStr
    # Its password: a reference, env:NAME or vault:NAME.
    password: SecretStr
    # Its integrator id: a reference, env:NAME or vault:NAME.
    integrator_id: SecretStr
    # PayTrace's API root for this account (unset: paytrace.base_url).
    base_url: str | None = None
    # The account's merchant time zone (unset: paytrace.timezone).
    timezone: str | None = None
    # ISO 4217 currency of the account (unset: paytrace.currency).
    currency: str | None = None
    # The company's bank account (offset) of the payment lines (unset: dynamics.bank_account).
    bank_account: str | None = None


class PayTraceSettings(Section):
    base_url: str = "https://api.paytrace.com"
    username: SecretStr = SecretStr("env:PAYTRACE_USERNAME")
    password: SecretStr = SecretStr("env:PAYTRACE_PASSWORD")
    integrator_id: SecretStr = SecretStr("env:PAYTRACE_INTEGRATOR_ID")
    timezone: str = "America/Los_Angeles"
    currency: str = "USD"
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=90.0, gt=0)
    verify_tls: bool = True
    # PayTrace Protect's hosted fields script, loaded by the card-on-file page (PayTrace's
    # sandbox account: https://protect.sandbox.paytrace.com/js/protect.min.js).
    protect_js_url: str = "https://protect.paytrace.com/js/protect.min.js"
    # The v1 path of the check (ACH) export: not public (spec §13); the emulator's by default.
    check_export_path: str = "/v1/checks/export/by_date_range"
    # More merchant accounts, one per other D365 legal entity (the account above is the
    # default one, bound to dynamics.company). Each: {name, company, username, password,
    # integrator_id, base_url, timezone, currency, bank_account}.
    accounts: list[PayTraceAccount] = Field(default_factory=list)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[PayTraceAccount]) -> list[PayTraceAccount]:
        names: dict[str, int] = {}
        companies: dict[str, int] = {}
        for n, account in enumerate(value):
            where = f"paytrace.accounts[{n}]"
            if not _ACCOUNT_NAME.match(account.name):
                raise ValueError(
                    f"{where}.name: {account.name!r} must be lower-case letters, digits, - or _ "
                    "(at most 32, starting with a letter)"
                )
            if account.name == "default":
                raise ValueError(f"{where}.name: 'default' names the main paytrace: account")
            if account.name in names:
                raise ValueError(
                    f"{where}.name: {account.name!r} is already paytrace.accounts"
                    f"[{names[account.name]}]'s name"
                )
            names[account.name] = n
            company = account.company.lower()
            if company in companies:
                raise ValueError(
                    f"{where}.company: {account.company!r} already has an account "
                    f"(paytrace.accounts[{companies[company]}]): a company has one at most"
                )
            companies[company] = n
            if account.currency is not None:
                _iso_4217(account.currency, f"{where}.currency")
        return value


def check_default_company(settings: PayTraceSettings, default_company: str) -> None:
    """The main account is bound to ``dynamics.company``: no other account may name it."""
    for n, account in enumerate(settings.accounts):
        if account.company.lower() == default_company.lower():
            raise ValueError(
                f"paytrace.accounts[{n}].company: {account.company!r} is dynamics.company, "
                "whose account is the main paytrace: account (a company has one at most)"
            )


__all__ = ["PayTraceAccount", "PayTraceSettings", "check_default_company"]
