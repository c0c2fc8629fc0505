"""Typed settings from a YAML file and ``PAYBRIDGE__SECTION__KEY`` environment variables, validated once.

Secrets are never written in a settings file: a secret field holds a reference, ``env:NAME``
(read from the environment at start-up) or ``vault:NAME`` (the credential vault). Programs that
build settings in code (the demo, tests) may pass literal secrets, which never reach a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from paybridge.errors import ConfigError

SECRET_FIELDS = {
    ("paytrace", "username"),
    ("paytrace", "password"),
    ("paytrace", "integrator_id"),
    ("dynamics", "client_secret"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    url: str = "sqlite:///var/paybridge.db"


class PayTraceSettings(_Section):
    base_url: str = "https://api.paytrace.com"
    username: SecretStr = SecretStr("env:PAYTRACE_USERNAME")
    password: SecretStr = SecretStr("env:PAYTRACE_PASSWORD")
    integrator_id: SecretStr = SecretStr("env:PAYTRACE_INTEGRATOR_ID")
    timezone: str = "America/Los_Angeles"
    currency: str = "USD"
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=90.0, gt=0)
    verify_tls: bool = True


class DynamicsSettings(_Section):
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
    # How a PayTrace customer finds its D365 account: the xref only, or else a D365 account
    # whose number equals the PayTrace customer id.
    customer_match: Literal["xref", "xref_or_same_id"] = "xref_or_same_id"
    timeout_seconds: float = Field(default=60.0, gt=0)
    verify_tls: bool = True


class OrderToCashSettings(_Section):
    """What a payment does in D365 beyond its journal line: customers, orders, voids, posting."""

    # A PayTrace customer with no D365 account: create it from the PayTrace profile, or wait in
    # the dead-letter queue until someone links one (``paybridge xref link``).
    missing_customer: Literal["create", "dead_letter"] = "dead_letter"
    new_customer_group: str = "30"
    new_customer_party_type: Literal["Person", "Organization"] = "Person"
    # Created accounts are ``<prefix><PayTrace customer id>``: the key is the exactly-once anchor.
    new_customer_prefix: str = ""
    # A payment naming a sales order (not an open invoice) is a prepayment against it.
    prepay_orders: bool = True
    # Hold/release the order (IsSalesProcessingStopped) through the order-status template.
    order_hold: bool = True
    # Extension fields on SalesOrderHeadersV2 (None: not deployed): status word, decline reason.
    order_status_field: str | None = None
    order_reason_field: str | None = None
    # A void of a sale whose line is still in an unposted journal: remove the line, or add a
    # reversing line (the default keeps every PayTrace state visible as its own line).
    void_unposted: Literal["delete", "reverse"] = "reverse"
    # Post the day's payment journals at ``post_at`` (HH:MM, dynamics.timezone) through the
    # posting service, or leave them for an accountant.
    post_journals: bool = False
    post_at: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    posting_service: str = "PayBridgeSandbox/Journals/post"


class CustomerSyncSettings(_Section):
    """D365 customers <-> PayTrace profiles, incrementally; cards only as Protect tokens."""

    enabled: bool = False
    interval_seconds: float = Field(default=300.0, gt=0)
    to_paytrace: bool = True
    to_d365: bool = True
    # D365 customer groups pushed to PayTrace; empty means every customer of the company.
    customer_groups: tuple[str, ...] = ()
    # CustomersV3 fields that keep the PayTrace customer id and the masked card (standard
    # fields by default; an environment with extension fields names those instead).
    profile_id_field: str | None = "MerchantID"
    masked_card_field: str | None = "SalesMemo"
    # D365 field -> PayTrace discretionary_data key (define the keys in PayTrace first).
    discretionary_fields: dict[str, str] = Field(default_factory=dict)


class PollerSettings(_Section):
    """The PayTrace change poller's windows (see ``ChangePoller``)."""

    # New rows are read from this far behind the last watermark (late rows within it are found).
    overlap_seconds: float = Field(default=600.0, gt=0)
    # Captures, voids and settlements are looked for this far back.
    lookback_days: float = Field(default=7.0, gt=0)
    # The narrow capture/void exports run at most this often.
    state_interval_seconds: float = Field(default=30.0, ge=0)


class MappingSettings(_Section):
    # A folder of templates (all versions side by side) replacing the shipped ones.
    templates_dir: Path | None = None


class RetrySettings(_Section):
    """Exponential backoff with full jitter: base * 2^(attempt-1), capped, then a dead letter."""

    base_seconds: float = Field(default=1.0, gt=0)
    cap_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)


class WorkerSettings(_Section):
    batch_size: int = Field(default=200, ge=1, le=5000)
    lease_seconds: float = Field(default=120.0, gt=0)
    idle_seconds: float = Field(default=0.2, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    # Per flow step (queue topic), e.g. {"payment": {"max_attempts": 20, "cap_seconds": 600}}.
    retry: dict[str, RetrySettings] = Field(default_factory=dict)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Serve HTTPS when both are given (PEM files).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Standard Webhooks secrets per inbound event source, as env:/vault: references; several
    # per source while rotating.
    event_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)
    charge_rate_per_second: float = Field(default=5.0, gt=0)
    charge_burst: int = Field(default=20, ge=1)


# The card brands a PayTrace BIN can be told apart by; "other" takes everything unrecognised.
BRANDS = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "other")


class BrandAccounts(_Section):
    """Overrides for one card brand (Amex often deposits to its own account)."""

    bank_account: str | None = None
    clearing_account: str | None = None


class CompanyReconcileSettings(_Section):
    """How one legal entity books a PayTrace deposit: clearing ledger account -> bank account."""

    bank_account: str = "USMF OPER"
    # Main account (ledger display value) the customer payments were booked against.
    clearing_account: str = "110180"
    brands: dict[str, BrandAccounts] = Field(default_factory=dict)
    journal_name: str = "GenJrn"
    # strftime format of the company's dates in reports (USMF: US month/day/year).
    date_format: str = "%m/%d/%Y"
    # The company's time zone for report timestamps; None = dynamics.timezone.
    timezone: str | None = None

    @field_validator("brands")
    @classmethod
    def _known_brands(cls, value: dict[str, BrandAccounts]) -> dict[str, BrandAccounts]:
        unknown = sorted(set(value) - set(BRANDS))
        if unknown:
            raise ValueError(f"unknown card brands {unknown}; use {', '.join(BRANDS)}")
        return value

    def accounts(self, brand: str) -> tuple[str, str]:
        """(bank account, clearing account) for ``brand``, falling back to the company's."""
        override = self.brands.get(brand) or BrandAccounts()
        return (
            override.bank_account or self.bank_account,
            override.clearing_account or self.clearing_account,
        )


class ReconcileSettings(_Section):
    """``reconcile:`` in the settings file."""

    companies: dict[str, CompanyReconcileSettings] = Field(
        default_factory=lambda: {"usmf": CompanyReconcileSettings()}
    )
    # A line in a journal nobody posted yet is reported ("settled in PayTrace, unposted in D365").
    require_posted: bool = True
    # Write one settlement general journal per PayTrace batch (exactly once).
    settlement_journal: bool = True
    journal_description: str = "PayBridge settlement batch {batch}"
    # How far back PayTrace is read for the state of transactions that are not in the day's
    # batches (pending, voided), and for card BINs.
    lookback_days: int = Field(default=7, ge=0, le=31)
    # PaymentReference values per OData $filter (URL length stays well below F&O's limits).
    reference_chunk: int = Field(default=40, ge=1, le=200)
    # The morning job: reconcile yesterday at this merchant-local time (None: off).
    schedule_at: time | None = time(6, 0)
    heal_on_schedule: bool = False
    reports_dir: Path | None = None

    @field_validator("journal_description")
    @classmethod
    def _has_batch(cls, value: str) -> str:
        if "{batch}" not in value:
            raise ValueError(
                "journal_description must contain {batch}: it is the exactly-once anchor"
            )
        return value

    def company(self, name: str) -> CompanyReconcileSettings:
        found = self.companies.get(name) or self.companies.get(name.lower())
        if found is None:
            raise ConfigError(
                f"reconcile.companies has no entry for company {name!r}", operation="settings"
            )
        return found


# D365's CustVendorBlocked members (spec: CustomersV3.OnHoldStatus).
ON_HOLD_MEMBERS = ("No", "Invoice", "All", "Payment", "Requisition", "Never", "PurchOrder")


class DunningSettings(_Section):
    """``retry_days``: days after the first refusal of a period at which it is tried again."""

    retry_days: tuple[int, ...] = (1, 3, 7)
    hold_status: str = "All"
    release_status: str = "No"

    @field_validator("retry_days")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 for day in value) or list(value) != sorted(set(value)):
            raise ValueError("retry_days must be increasing whole days of at least 1")
        return value

    @field_validator("hold_status", "release_status")
    @classmethod
    def _member(cls, value: str) -> str:
        if value not in ON_HOLD_MEMBERS:
            raise ValueError(f"{value!r} is not a CustVendorBlocked member: {ON_HOLD_MEMBERS}")
        return value


class BillingSettings(_Section):
    """``billing:`` settings: how often the charge run looks, the billing day's zone, dunning."""

    enabled: bool = False
    interval_seconds: float = Field(default=900.0, gt=0)
    # Period dates are calendar days in this zone (PayTrace's merchant zone by default).
    timezone: str = "America/Los_Angeles"
    # After an unanswered charge, PayTrace's export may lag: an absence is trusted only after this.
    in_doubt_grace_seconds: float = Field(default=600.0, ge=0)
    dunning: DunningSettings = DunningSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    paytrace: PayTraceSettings = PayTraceSettings()
    dynamics: DynamicsSettings = DynamicsSettings()
    worker: WorkerSettings = WorkerSettings()
    mapping: MappingSettings = MappingSettings()
    o2c: OrderToCashSettings = OrderToCashSettings()
    sync: CustomerSyncSettings = CustomerSyncSettings()
    poller: PollerSettings = PollerSettings()
    web: WebSettings = WebSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    billing: BillingSettings = BillingSettings()

    @field_validator("paytrace")
    @classmethod
    def _currency(cls, value: PayTraceSettings) -> PayTraceSettings:
        if len(value.currency) != 3 or not value.currency.isalpha():
            raise ValueError("paytrace.currency must be an ISO 4217 code such as USD")
        return value


def resolve_secret(
    value: SecretStr,
    name: str,
    environ: dict[str, str] | None = None,
    vault: Callable[[str], str] | None = None,
) -> str:
    """The secret behind a reference; a ConfigError names the setting, never the value.

    ``vault`` resolves ``vault:NAME`` (``paybridge.security.vault.Vault.get``); without it a
    vault reference is a ConfigError.
    """
    env = os.environ if environ is None else environ
    raw = value.get_secret_value()
    if raw.startswith("env:"):
        var = raw[4:]
        if var not in env:
            raise ConfigError(
                f"{name}: environment variable {var} is not set", operation="settings"
            )
        return env[var]
    if raw.startswith("vault:"):
        if vault is None:
            raise ConfigError(
                f"{name}: {raw} needs the credential vault, and none was opened",
                operation="settings",
            )
        try:
            return vault(raw[6:])
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc.message}", operation="settings") from None
    return raw


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith("PAYBRIDGE__"):
            continue
        path = [part.lower() for part in key[len("PAYBRIDGE__") :].split("__") if part]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _refuse_plain_secrets(data: dict[str, Any], source: str) -> None:
    for section, key in SECRET_FIELDS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and not value.startswith(("env:", "vault:")):
            raise ConfigError(
                f"{source}: {section}.{key} must be a reference (env:NAME or vault:NAME), "
                "not a secret written in the file",
                operation="settings",
            )


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from ``path`` (YAML, optional) overlaid with ``PAYBRIDGE__`` variables."""
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read settings {path}: {exc}", operation="settings") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: settings must be a mapping", operation="settings")
        _refuse_plain_secrets(loaded, str(path))
        data = loaded
    overrides = _env_overrides(env)  # a secret given in the environment is where it belongs
    try:
        return Settings.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}", operation="settings") from exc
