"""Typed settings from a YAML file and ``PAYBRIDGE__SECTION__KEY`` environment variables, validated once.

Secrets are never written in a settings file: a secret field holds a reference, ``env:NAME``
(read from the environment at start-up) or ``vault:NAME`` (the credential vault). Programs that
build settings in code (the demo, tests) may pass literal secrets, which never reach a file."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from paybridge.app.insight_settings import InsightSettings
from paybridge.billing.settings import BillingSettings
from paybridge.charging.settings import ChargingSettings, Level3Settings, PayLinkSettings
from paybridge.config import Section
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace.settings import PayTraceSettings, check_default_company
from paybridge.customers.settings import CardRequestSettings, CustomerSyncSettings
from paybridge.errors import ConfigError
from paybridge.o2c.settings import CheckSettings, OrderToCashSettings, PollerSettings
from paybridge.ops.settings import (
    AlertingSettings,
    LoggingSettings,
    MetricsSettings,
    TracingSettings,
    plain_secrets,
)
from paybridge.orders.settings import OrdersSettings
from paybridge.reconcile.settings import ReconcileSettings
from paybridge.security.settings import AuditSettings

SECRET_FIELDS = {
    ("paytrace", "username"),
    ("paytrace", "password"),
    ("paytrace", "integrator_id"),
    ("dynamics", "client_secret"),
    ("cards", "link_secret"),
    ("paylinks", "link_secret"),
}


class StoreSettings(Section):
    url: str = "sqlite:///var/paybridge.db"
    # Migrate the schema to head when a process opens the store (a developer's SQLite file).
    # A deployment sets false and runs `paybridge db upgrade` once before serve and workers.
    auto_upgrade: bool = True


class MappingSettings(Section):
    # A folder of templates laid over the shipped ones: a template here joins the shipped
    # versions of its name (the highest version maps; older ones stay for dry-run), a copy of a
    # shipped name@version replaces it, and every name not here stays shipped.
    templates_dir: Path | None = None
    # How often serve and worker look for a version promoted in the console's designer; on one
    # they rebuild their engine, so the new version maps. 0: never (restart to take it up).
    reload_seconds: float = Field(default=5.0, ge=0)


class RetrySettings(Section):
    """Exponential backoff with full jitter: base * 2^(attempt-1), capped, then a dead letter."""

    base_seconds: float = Field(default=1.0, gt=0)
    cap_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)


class WorkerSettings(Section):
    batch_size: int = Field(default=200, ge=1, le=5000)
    lease_seconds: float = Field(default=120.0, gt=0)
    idle_seconds: float = Field(default=0.2, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    # Per flow step (queue topic), e.g. {"payment": {"max_attempts": 20, "cap_seconds": 600}}.
    retry: dict[str, RetrySettings] = Field(default_factory=dict)


class WebSettings(Section):
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
    # A larger body is refused (413) before it is read; every request PayBridge takes is small.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Seconds a client has to send the whole body once its headers are in (408 after that).
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For names the client in the
    # audit log; nobody else's is believed. None by default.
    trusted_proxies: list[str] = Field(default_factory=list)
    # The console's session cookie is sent over HTTPS only; unset: when tls_cert is set (say true
    # behind a proxy that ends TLS).
    secure_cookies: bool | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"web.trusted_proxies: {entry!r} is no address or CIDR block"
                ) from None
        return value


# The card brands a PayTrace BIN can be told apart by; "other" takes everything unrecognised.


class Settings(Section):
    store: StoreSettings = StoreSettings()
    paytrace: PayTraceSettings = PayTraceSettings()
    dynamics: DynamicsSettings = DynamicsSettings()
    worker: WorkerSettings = WorkerSettings()
    mapping: MappingSettings = MappingSettings()
    o2c: OrderToCashSettings = OrderToCashSettings()
    sync: CustomerSyncSettings = CustomerSyncSettings()
    cards: CardRequestSettings = CardRequestSettings()
    poller: PollerSettings = PollerSettings()
    checks: CheckSettings = CheckSettings()
    web: WebSettings = WebSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    billing: BillingSettings = BillingSettings()
    charging: ChargingSettings = ChargingSettings()
    orders: OrdersSettings = OrdersSettings()
    paylinks: PayLinkSettings = PayLinkSettings()
    level3: Level3Settings = Level3Settings()
    audit: AuditSettings = AuditSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()
    alerting: AlertingSettings = AlertingSettings()
    insight: InsightSettings = InsightSettings()

    # Where each value came from (dotted setting -> "file <path>" or "env <NAME>"), kept by
    # ``load_settings``; what is not named here is the default.
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin_of(self, dotted: str) -> str:
        """``file <path>``, ``env PAYBRIDGE__...`` or ``default``: where ``dotted`` was set."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            found = self._origins.get(".".join(parts[:end]))
            if found is not None:
                return found
        return "default"

    @field_validator("paytrace")
    @classmethod
    def _currency(cls, value: PayTraceSettings) -> PayTraceSettings:
        if len(value.currency) != 3 or not value.currency.isalpha():
            raise ValueError("paytrace.currency must be an ISO 4217 code such as USD")
        return value

    @model_validator(mode="after")
    def _one_account_per_company(self) -> Settings:
        check_default_company(self.paytrace, self.dynamics.company)
        if not self.paytrace.accounts:
            return self
        # Several accounts: each company is reconciled against its own account, so every
        # account's company has its reconcile entry, and every entry an account.
        reconciled = {name.lower() for name in self.reconcile.companies}
        for n, account in enumerate(self.paytrace.accounts):
            if account.company.lower() not in reconciled:
                raise ValueError(
                    f"paytrace.accounts[{n}].company: {account.company!r} has no "
                    f"reconcile.companies.{account.company.lower()} entry (its bank and "
                    "clearing accounts for reconciliation)"
                )
        served = {self.dynamics.company.lower()} | {
            a.company.lower() for a in self.paytrace.accounts
        }
        for name in sorted(reconciled - served):
            raise ValueError(
                f"reconcile.companies.{name}: company {name!r} has no PayTrace merchant account "
                "(dynamics.company's is paytrace:, the others' paytrace.accounts)"
            )
        return self


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
            raise _plain_secret(source, f"{section}.{key}")
    dynamics = data.get("dynamics")
    extra = dynamics.get("principals") if isinstance(dynamics, dict) else None
    for n, entry in enumerate(extra if isinstance(extra, list) else []):
        value = entry.get("client_secret") if isinstance(entry, dict) else None
        if isinstance(value, str) and not value.startswith(("env:", "vault:")):
            raise _plain_secret(source, f"dynamics.principals[{n}].client_secret")
    paytrace = data.get("paytrace")
    accounts = paytrace.get("accounts") if isinstance(paytrace, dict) else None
    for n, entry in enumerate(accounts if isinstance(accounts, list) else []):
        for key in ("username", "password", "integrator_id"):
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, str) and not value.startswith(("env:", "vault:")):
                raise _plain_secret(source, f"paytrace.accounts[{n}].{key}")
    for setting in plain_secrets(data):
        raise _plain_secret(source, setting)
    web = data.get("web")
    sources = web.get("event_secrets") if isinstance(web, dict) else None
    for name, refs in sources.items() if isinstance(sources, dict) else ():
        for n, ref in enumerate(refs if isinstance(refs, list) else [refs]):
            if not (isinstance(ref, str) and ref.startswith(("env:", "vault:"))):
                raise _plain_secret(source, f"web.event_secrets.{name}[{n}]")


def _plain_secret(source: str, setting: str) -> ConfigError:
    return ConfigError(
        f"{source}: {setting} must be a reference (env:NAME or vault:NAME), "
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
        settings = Settings.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}", operation="settings") from exc
    origins = {name: f"file {path}" for name in _leaves(data)}
    origins.update({name: "env PAYBRIDGE__" + name.upper().replace(".", "__")
                    for name in _leaves(overrides)})  # fmt: skip
    settings._origins = origins
    return settings


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of a settings tree's values (a mapping's own keys, lists as one value)."""
    out = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out.extend(_leaves(value, f"{name}.") if isinstance(value, dict) and value else [name])
    return out
