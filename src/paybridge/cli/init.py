"""`paybridge init`: a commented settings file for a real tenant, from flags or prompts; secrets
go into the vault (``vault:NAME``) or stay in the environment (``env:NAME``), never in the file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from paybridge.cli.common import err, friendly, out
from paybridge.errors import ConfigError

# (setting, environment variable / vault name, what to ask)
SECRETS = (
    ("paytrace.username", "PAYTRACE_USERNAME", "PayTrace API user"),
    ("paytrace.password", "PAYTRACE_PASSWORD", "PayTrace API password"),
    ("paytrace.integrator_id", "PAYTRACE_INTEGRATOR_ID", "PayTrace integrator id"),
    (
        "dynamics.client_secret",
        "DYNAMICS_CLIENT_SECRET",
        "D365 client secret (Entra ID: its Value)",
    ),
)

ENTRA = """\
  # Entra ID: directory (tenant) id and the app registration's Application (client) ID; the app
  # must be registered in F&O (System administration > Setup > Microsoft Entra ID applications).
  tenant: {tenant}
  client_id: {client_id}
"""

ADFS = """\
  # AD FS (on-premises F&O): the server application of the F&O application group, granted on its
  # Web API, and registered in F&O (System administration > Setup > Microsoft Entra ID
  # applications) with its client identifier.
  auth: adfs
  adfs_url: {adfs_url}
{adfs_resource}  client_id: {client_id}
"""

TEMPLATE = """\
# PayBridge settings, written by `paybridge init`. Every setting: docs/settings.md.
# Secrets are never written here: each is env:NAME (from the environment) or vault:NAME
# (the credential vault). Check the whole file against both systems with:
#   paybridge check --config {path}

store:
  # SQLite for one host, or postgresql+psycopg://user@host/db for several workers.
  url: {store_url}

paytrace:
  base_url: {paytrace_url}
  username: {ref_paytrace_username}
  password: {ref_paytrace_password}
  integrator_id: {ref_paytrace_integrator_id}
  # The merchant's time zone in PayTrace (its exports are by the merchant's days).
  timezone: {timezone}

dynamics:
  # The environment URL, without /data.
  base_url: {dynamics_url}
{sign_in}  client_secret: {ref_dynamics_client_secret}
{authority}  # The legal entity (dataAreaId), the customer payment journal name (type CustPayment)
  # and the bank account the payment lines are offset to.
  company: {company}
  journal_name: {journal_name}
  bank_account: {bank_account}
  timezone: {timezone}

o2c:
  # Go-live: PayTrace transactions before this moment are D365's already (ISO 8601, offset).
  # cut_over: 2026-12-01T00:00:00-08:00
  missing_customer: dead_letter

reconcile:
  # Settlement journals move money between ledger accounts: enable them once the accounts
  # below are the company's own.
  journal_on_schedule: false
  companies:
    {company_key}:
      bank_account: {bank_account}
      clearing_account: {clearing_account}
      journal_name: {settlement_journal}
"""


def _value(given: str | None, prompt: str, default: str | None, interactive: bool) -> str:
    if given is not None:
        return given
    if interactive:
        return str(typer.prompt(prompt, default=default))
    if default is not None:
        return default
    raise ConfigError(
        f"--{prompt.split(' (')[0].lower().replace(' ', '-')}: give it (no prompt without a terminal)",
        operation="init",
    )


def _vault_refs(config: Path, interactive: bool) -> dict[str, str]:
    """Each secret into the vault (from the environment, or a hidden prompt); its reference."""
    from paybridge.app.golive import store_secret

    refs = {}
    for setting, var, ask in SECRETS:
        value = os.environ.get(var)
        if value is None and interactive:
            value = typer.prompt(ask, hide_input=True)
        if not value:
            raise ConfigError(
                f"{setting}: set {var} in the environment, or run init in a terminal",
                operation="init",
            )
        refs[setting] = f"vault:{setting}"
        store_secret(config, setting, value)
    return refs


@friendly
def init(
    output: Annotated[Path, typer.Option("--output", "-o", help="Settings file to write.")] = Path(
        "paybridge.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    secrets: Annotated[
        str, typer.Option(help="Where secrets live: env (env:NAME) or vault (vault:NAME).")
    ] = "env",
    store_url: Annotated[str | None, typer.Option(help="store.url")] = None,
    paytrace_url: Annotated[str | None, typer.Option(help="paytrace.base_url")] = None,
    timezone: Annotated[str | None, typer.Option(help="The merchant's time zone")] = None,
    dynamics_url: Annotated[
        str | None, typer.Option(help="dynamics.base_url (without /data)")
    ] = None,
    auth: Annotated[
        str, typer.Option(help="dynamics.auth: entra (cloud F&O) or adfs (on-premises F&O)")
    ] = "entra",
    adfs_url: Annotated[
        str | None, typer.Option(help="dynamics.adfs_url (with --auth adfs)")
    ] = None,
    adfs_resource: Annotated[
        str | None, typer.Option(help="dynamics.adfs_resource (with --auth adfs; default: the URL)")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="dynamics.tenant (Entra ID)")] = None,
    client_id: Annotated[str | None, typer.Option(help="dynamics.client_id")] = None,
    authority_host: Annotated[str | None, typer.Option(help="dynamics.authority_host")] = None,
    login_redirect: Annotated[
        str | None, typer.Option(help="dynamics.login_redirect (sandboxes only)")
    ] = None,
    company: Annotated[str | None, typer.Option(help="dynamics.company")] = None,
    journal_name: Annotated[str | None, typer.Option(help="dynamics.journal_name")] = None,
    bank_account: Annotated[str | None, typer.Option(help="dynamics.bank_account")] = None,
    clearing_account: Annotated[
        str | None, typer.Option(help="reconcile clearing main account")
    ] = None,
    settlement_journal: Annotated[
        str | None, typer.Option(help="reconcile journal name (type Daily)")
    ] = None,
) -> None:
    """Write a commented settings file for your tenant (asks for what flags leave out)."""
    from paybridge.app.settings import load_settings

    if secrets not in ("env", "vault"):
        raise ConfigError("--secrets: use env or vault", operation="init")
    if auth not in ("entra", "adfs"):
        raise ConfigError("--auth: use entra or adfs", operation="init")
    if auth == "entra" and (adfs_url or adfs_resource):
        raise ConfigError("--adfs-url: give --auth adfs with it", operation="init")
    if auth == "adfs" and (tenant or authority_host or login_redirect):
        raise ConfigError(
            "--auth adfs: --tenant, --authority-host and --login-redirect are for Entra ID",
            operation="init",
        )
    if output.exists() and not force:
        raise ConfigError(
            f"--output: {output} exists (give --force to replace it)", operation="init"
        )
    tty = sys.stdin.isatty()

    def ask(given: str | None, prompt: str, default: str | None = None) -> str:
        return _value(given, prompt, default, tty)

    values = {
        "store_url": ask(store_url, "Store URL (store.url)", "sqlite:///var/paybridge.db"),
        "paytrace_url": ask(paytrace_url, "PayTrace URL (paytrace.base_url)", "https://api.paytrace.com"),
        "timezone": ask(timezone, "Merchant time zone (paytrace.timezone)", "America/Los_Angeles"),
        "dynamics_url": ask(dynamics_url, "Dynamics url (dynamics.base_url)").rstrip("/").removesuffix("/data"),
    }  # fmt: skip
    if auth == "adfs":
        sign_in = ADFS.format(
            adfs_url=json.dumps(ask(adfs_url, "Adfs url (dynamics.adfs_url)")),
            adfs_resource=f"  adfs_resource: {json.dumps(adfs_resource)}\n" if adfs_resource else "",
            client_id=json.dumps(ask(client_id, "Client id (dynamics.client_id)")),
        )  # fmt: skip
    else:
        sign_in = ENTRA.format(
            tenant=json.dumps(ask(tenant, "Tenant (dynamics.tenant)")),
            client_id=json.dumps(ask(client_id, "Client id (dynamics.client_id)")),
        )
    values |= {
        "company": ask(company, "Company (dynamics.company)", "usmf").lower(),
        "journal_name": ask(journal_name, "Journal name (dynamics.journal_name)", "CustPay"),
        "bank_account": ask(bank_account, "Bank account (dynamics.bank_account)"),
        "clearing_account": ask(clearing_account, "Clearing account (reconcile)", "110180"),
        "settlement_journal": ask(settlement_journal, "Settlement journal name (reconcile)", "GenJrn"),
    }  # fmt: skip
    lines = ""
    if authority_host:
        lines += f"  authority_host: {json.dumps(authority_host)}\n"
    if login_redirect:
        lines += f"  # A sandbox answers for Entra ID here (never set for a real tenant).\n  login_redirect: {json.dumps(login_redirect)}\n"
    values = {k: json.dumps(v) for k, v in values.items()}
    values |= {"path": str(output), "sign_in": sign_in, "authority": lines}
    values["company_key"] = values["company"]
    output.parent.mkdir(parents=True, exist_ok=True)
    if secrets == "vault":
        # The store holds the vault: write the file first (the store URL is in it).
        output.write_text(TEMPLATE.format(**values, **_env_refs()), encoding="utf-8")
        refs = {f"ref_{s.replace('.', '_')}": r for s, r in _vault_refs(output, tty).items()}
    else:
        refs = _env_refs()
    output.write_text(TEMPLATE.format(**values, **refs), encoding="utf-8")
    try:
        load_settings(output, environ={})  # what was written must load
    except ConfigError:
        output.unlink()
        raise
    out.print(f"wrote {output}")
    if secrets == "env":
        names = " ".join(var for _, var, _ in SECRETS)
        err.print(f"set these in the environment of PayBridge: {names}")
    err.print(f"next: paybridge check --config {output}")


def _env_refs() -> dict[str, str]:
    return {f"ref_{s.replace('.', '_')}": f"env:{var}" for s, var, _ in SECRETS}
