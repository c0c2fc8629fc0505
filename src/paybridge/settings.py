"""Typed settings from a YAML file and ``PAYBRIDGE__SECTION__KEY`` environment variables, validated once.

Secrets are never written in a settings file: a secret field holds a reference, ``env:NAME``
(read from the environment at start-up) or ``vault:NAME`` (the credential vault). Programs that
build settings in code (the demo, tests) may pass literal secrets, which never reach a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

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


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    paytrace: PayTraceSettings = PayTraceSettings()
    dynamics: DynamicsSettings = DynamicsSettings()
    worker: WorkerSettings = WorkerSettings()
    mapping: MappingSettings = MappingSettings()

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
