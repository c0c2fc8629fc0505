"""`paybridge vault|keys|audit`: the credential vault, API keys and the audit log from the command line.

Secret values are read from a hidden prompt or standard input, never from arguments (which shell
history and process lists keep), and are never printed. Every change is an audit row by
``cli:<user>`` from ``local``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from paybridge.app.settings import Settings, load_settings
from paybridge.cli.common import ConfigOption, audit_cli, err, friendly, out
from paybridge.clock import SystemClock
from paybridge.errors import ConfigError
from paybridge.security.context import SecurityContext, open_security
from paybridge.security.keyring import decode_key, new_key_text, write_key_file
from paybridge.security.rotation import rotate
from paybridge.security.webhooks import SECRET_REFRESH, new_secret, rotate_secret
from paybridge.store import open_engine

vault_app = typer.Typer(
    help="The credential vault: set, get-meta, list, rotate, delete.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: list, verify, rotate-key.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Inbound webhook signing secrets: rotate.", no_args_is_help=True)


def _settings(config: Path | None) -> Settings:
    if config is not None and not config.is_file():
        raise ConfigError(f"--config: no such file {config}", operation="settings")
    return load_settings(config)


def _security(config: Path | None, settings: Settings | None = None) -> SecurityContext:
    settings = settings or _settings(config)
    return open_security(open_engine(settings.store.url), clock=SystemClock(), audit=settings.audit)


def _record(
    security: SecurityContext, action: str, target: str, *, outcome: str = "ok", **detail: Any
) -> None:
    audit_cli(security.audit, action, target, outcome=outcome, **detail)


def _read_secret(name: str) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(f"value for {name}", hide_input=True, confirmation_prompt=True))
    # Piped in: one value, without the newline a shell adds.
    return sys.stdin.read().rstrip("\r\n")


@vault_app.command("new-key")
@friendly
def vault_new_key(
    file: Annotated[Path | None, typer.Option(help="Write a new 0600 key file here.")] = None,
) -> None:
    """Make a key-encryption key: into a new 0600 file, or printed for PAYBRIDGE_VAULT_KEK."""
    text = new_key_text()
    if file is None:
        print(text)
        return
    if file.exists():
        raise ConfigError(f"{file} exists; rotate with `paybridge vault rotate --new-key`")
    write_key_file(file, [decode_key(text, "new key")])
    out.print(f"wrote {file} (mode 0600); set PAYBRIDGE_VAULT_KEY_FILE={file}")


@vault_app.command("set")
@friendly
def vault_set(
    name: Annotated[str, typer.Argument(help="Secret name, e.g. paytrace.password.")],
    config: ConfigOption = None,
) -> None:
    """Store a secret; the value comes from a hidden prompt or standard input."""
    security = _security(config)
    value = _read_secret(name)
    meta = security.vault.set(name, value)
    _record(security, "vault.set", f"vault:{name}", version=meta.version, kek_id=meta.kek_id)
    out.print(f"stored {name} (version {meta.version}, key {meta.kek_id}); use vault:{name}")


@vault_app.command("get-meta")
@friendly
def vault_get_meta(
    name: Annotated[str, typer.Argument(help="Secret name.")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Name, created, updated, version and key id of a secret; never its value."""
    meta = _security(config).vault.meta(name)
    if meta is None:
        raise ConfigError(f"vault: no secret named {name!r}", system="vault")
    if as_json:
        print(json.dumps(meta.to_dict()))
        return
    for key, value in meta.to_dict().items():
        out.print(f"{key}: {value}", highlight=False)


@vault_app.command("list")
@friendly
def vault_list(config: ConfigOption = None) -> None:
    """Every secret's metadata; never a value."""
    table = Table(title="Vault")
    for column in ("name", "version", "key id", "created", "updated"):
        table.add_column(column, no_wrap=column in ("name", "key id"))
    for meta in _security(config).vault.all():
        table.add_row(
            meta.name, str(meta.version), meta.kek_id,
            meta.created_at.isoformat(), meta.updated_at.isoformat(),
        )  # fmt: skip
    out.print(table)


@vault_app.command("rotate")
@friendly
def vault_rotate(
    new_key: Annotated[
        bool, typer.Option("--new-key", help="Add a fresh key to the key file first.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Re-wrap every secret under the active key, then retire old keys no secret uses."""
    security = _security(config)
    keyring = security.vault.keyring
    outcome = rotate(security.engine, keyring, security.clock, new_key=new_key)
    report = outcome.report
    _record(
        security, "vault.rotate", f"kek:{report.active_kek_id}",
        rewrapped=report.rewrapped, retired=report.retired_kek_ids, new_key=new_key,
    )  # fmt: skip
    out.print(
        f"active key {report.active_kek_id}: {report.rewrapped} secrets re-wrapped, "
        f"{report.already_current} already on it"
    )
    if outcome.remaining_kek_ids:
        err.print(
            f"old keys still in use: {', '.join(outcome.remaining_kek_ids)}; run rotate again"
        )
        raise typer.Exit(1)
    if keyring.path is None and report.retired_kek_ids:
        out.print("done: remove PAYBRIDGE_VAULT_KEK_PREVIOUS from the environment now")
    elif outcome.key_file_trimmed:
        out.print(f"done: old keys removed from {keyring.path}")


@vault_app.command("delete")
@friendly
def vault_delete(
    name: Annotated[str, typer.Argument(help="Secret name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete a secret."""
    if not yes and not typer.confirm(f"delete vault secret {name}?"):
        raise typer.Exit(1)
    security = _security(config)
    if not security.vault.delete(name):
        raise ConfigError(f"vault: no secret named {name!r}", system="vault")
    _record(security, "vault.delete", f"vault:{name}")
    out.print(f"deleted {name}")


@keys_app.command("create")
@friendly
def keys_create(
    role: Annotated[str, typer.Option("--role", help="viewer, operator or admin.")],
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, max=3650, help="Expire after N days.")
    ] = None,
    label: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
    config: ConfigOption = None,
) -> None:
    """Create an API key; it is printed this once and PayBridge keeps only a hash of it."""
    security = _security(config)
    issued = security.api_keys.create(role, label=label, expires_days=expires_days)
    _record(
        security, "keys.create", f"key:{issued.key.key_id}", role=role, expires_days=expires_days
    )
    err.print(f"key {issued.key.key_id} ({role}); copy it now, it is not shown again:")
    print(issued.token)


@keys_app.command("list")
@friendly
def keys_list(config: ConfigOption = None) -> None:
    """Every key's id, role, label and dates; never a key."""
    table = Table(title="API keys")
    for column in ("key id", "role", "label", "created", "expires", "revoked", "last used"):
        table.add_column(column, no_wrap=column == "key id")
    for key in _security(config).api_keys.all():
        row = key.to_dict()
        table.add_row(*(str(row[c] or "") for c in (
            "key_id", "role", "label", "created_at", "expires_at", "revoked_at", "last_used_at",
        )))  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
@friendly
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (see `keys list`).")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key at once."""
    security = _security(config)
    done = security.api_keys.revoke(key_id)
    _record(security, "keys.revoke", f"key:{key_id}", found=done)
    if not done:
        raise ConfigError(f"no active key {key_id!r}", operation="keys")
    out.print(f"revoked {key_id}")


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--{name}: not an ISO 8601 time: {text}") from None
    if value.tzinfo is None:
        raise ConfigError(f"--{name}: give a time zone, e.g. {text}Z or {text}+00:00")
    return value


@audit_app.command("list")
@friendly
def audit_list(
    actor: Annotated[str | None, typer.Option(help="e.g. key:1a2b3c4d5e6f or cli:alice")] = None,
    action: Annotated[str | None, typer.Option(help="Action or prefix, e.g. vault.")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, denied, refused...")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time with zone.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time with zone.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    config: ConfigOption = None,
) -> None:
    """Audit rows, newest first."""
    security = _security(config)
    rows = security.audit.search(
        actor=actor, action=action, outcome=outcome,
        since=_when(since, "since"), until=_when(until, "until"), limit=limit,
    )  # fmt: skip
    # Reading the audit trail is itself audited (PCI DSS 10.2.1.3), with what was asked for.
    _record(
        security, "audit.list", "audit", actor_filter=actor, action_filter=action,
        outcome_filter=outcome, since=since, until=until, limit=limit, rows=len(rows),
    )  # fmt: skip
    if as_json:
        for row in rows:
            print(json.dumps(row.to_dict()))
        return
    table = Table(title="Audit log")
    for column in ("seq", "when", "actor", "action", "target", "from", "outcome"):
        table.add_column(column)
    for row in rows:
        # What callers sent (a key id, a path) is shown as text, never read as Rich markup.
        table.add_row(*(Text(str(v)) for v in (
            row.seq, row.at.isoformat(), row.actor, row.action, row.target, row.client, row.outcome,
        )))  # fmt: skip
    out.print(table)


@audit_app.command("verify")
@friendly
def audit_verify(config: ConfigOption = None) -> None:
    """Check the hash chain; exit 1 naming the first edited, deleted or reordered row."""
    security = _security(config)
    report = security.audit.verify()
    _record(
        security, "audit.verify", "audit", outcome="ok" if report.ok else "broken",
        rows=report.rows, bad_seq=report.bad_seq,
    )  # fmt: skip
    if not report.ok:
        where = f" at row {report.bad_seq}" if report.bad_seq is not None else ""
        err.print(f"audit log BROKEN{where}: {report.problem}", markup=False, highlight=False)
        raise typer.Exit(1)
    legacy = f" ({report.legacy_rows} from before the key, sealed)" if report.legacy_rows else ""
    anchored = f", anchored at row {report.anchored_seq}" if report.anchored_seq else ""
    out.print(
        f"audit log intact: {report.rows} rows{legacy}, head {report.head_hash}{anchored}",
        markup=False, highlight=False,
    )  # fmt: skip


@audit_app.command("rotate-key")
@friendly
def audit_rotate_key(config: ConfigOption = None) -> None:
    """Sign new rows with a fresh audit key; the old keys stay in the file for the old rows."""
    security = _security(config)
    key_id = security.audit.keys.rotate()
    _record(
        security,
        "audit.rotate_key",
        f"audit-key:{key_id}",
        key_file=str(security.audit.locations.key_file),
    )
    out.print(f"new audit key {key_id}; keep every older key in the file", highlight=False)


@webhooks_app.command("rotate")
@friendly
def webhooks_rotate(
    source: Annotated[str, typer.Argument(help="Inbound source, e.g. storefront.")],
    overlap_hours: Annotated[
        float,
        typer.Option("--overlap-hours", min=0, max=24 * 30, help="How long the old one verifies."),
    ] = 24.0,
    generate: Annotated[
        bool, typer.Option("--generate", help="Make a whsec_ secret and print it once.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Put a new signing secret in the vault; the running server takes it up within a minute."""
    settings = _settings(config)
    refs = settings.web.event_secrets.get(source)
    if refs is None:
        known = ", ".join(sorted(settings.web.event_secrets)) or "none"
        raise ConfigError(f"web.event_secrets: no source {source!r} (configured: {known})")
    name = next(
        (r.get_secret_value()[6:] for r in refs if r.get_secret_value().startswith("vault:")), None
    )
    if name is None:
        raise ConfigError(
            f"web.event_secrets.{source}: rotation needs a vault:NAME reference "
            "(an env: secret changes only with a restart)"
        )
    security = _security(config, settings)
    vault = security.vault
    secret = new_secret() if generate else _read_secret(f"vault:{name}")
    done = rotate_secret(
        vault, name, secret, overlap=timedelta(hours=overlap_hours), now=security.clock.now()
    )
    until = done.previous_until.isoformat() if done.previous_until else None
    _record(
        security, "webhooks.rotate", f"vault:{name}", source=source, previous_until=until,
        generated=generate,
    )  # fmt: skip
    if generate:
        err.print("the new secret; give it to the sender now, it is not shown again:")
        print(secret)
    old = f"the old one verifies until {until}" if until else "no old secret verifies"
    err.print(
        f"rotated vault:{name} for {source}: {old}; the server reads it within "
        f"{int(SECRET_REFRESH.total_seconds())} s",
        highlight=False,
    )


__all__ = ["audit_app", "keys_app", "vault_app", "webhooks_app"]
