"""`paybridge vault|keys|audit`: values never printed, keys shown once, every change audited."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from paybridge.cli.security import audit_app, keys_app, vault_app, webhooks_app
from paybridge.security.keyring import read_key_file
from paybridge.security.vault import Vault
from paybridge.store import open_engine

SECRET = "pt-pass-Zq8!w"

cli = typer.Typer()
cli.add_typer(vault_app, name="vault")
cli.add_typer(keys_app, name="keys")
cli.add_typer(audit_app, name="audit")
cli.add_typer(webhooks_app, name="webhooks")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PAYBRIDGE__STORE__URL": f"sqlite:///{tmp_path / 'pb.db'}",
        "PAYBRIDGE_VAULT_KEY_FILE": str(tmp_path / "vault.key"),
        "PAYBRIDGE_VAULT_KEK": "",
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def test_vault_lifecycle_never_prints_the_value(env: dict[str, str]) -> None:
    assert run(env, "vault", "new-key", "--file", env["PAYBRIDGE_VAULT_KEY_FILE"])[0] == 0
    code, output = run(env, "vault", "set", "paytrace.password", stdin=SECRET + "\n")
    assert code == 0 and "vault:paytrace.password" in output
    outputs = [output]
    for args in (["get-meta", "paytrace.password"], ["list"], ["rotate", "--new-key"]):
        code, output = run(env, "vault", *args)
        assert code == 0, output
        outputs.append(output)
    code, meta = run(env, "vault", "get-meta", "paytrace.password", "--json")
    assert json.loads(meta)["version"] == 1
    assert all(SECRET not in text for text in [*outputs, meta])
    assert "1 secrets re-wrapped" in outputs[3] and "old keys removed" in outputs[3]
    keyring = read_key_file(Path(env["PAYBRIDGE_VAULT_KEY_FILE"]))
    engine = open_engine(env["PAYBRIDGE__STORE__URL"])
    assert Vault(engine, keyring).get("paytrace.password") == SECRET
    assert run(env, "vault", "delete", "paytrace.password", "--yes")[0] == 0
    code, output = run(env, "vault", "get-meta", "paytrace.password")
    assert code == 2 and "no secret named" in output


def test_vault_refuses_a_world_readable_key_file(env: dict[str, str]) -> None:
    run(env, "vault", "new-key", "--file", env["PAYBRIDGE_VAULT_KEY_FILE"])
    os.chmod(env["PAYBRIDGE_VAULT_KEY_FILE"], 0o644)
    code, output = run(env, "vault", "set", "x", stdin="v")
    assert code == 2 and "0600" in " ".join(output.split())


def test_vault_without_any_key_explains(env: dict[str, str]) -> None:
    code, output = run(env, "vault", "list")
    assert code == 2 and "vault key file" in output


def test_keys_create_shows_the_key_once_list_never(env: dict[str, str]) -> None:
    code, output = run(env, "keys", "create", "--role", "operator", "--expires-days", "30")
    assert code == 0
    token = next(line for line in output.splitlines() if line.startswith("pb_"))
    key_id = token.split("_")[1]
    code, listing = run(env, "keys", "list")
    assert key_id in listing and token[16:24] not in listing
    assert run(env, "keys", "revoke", key_id)[0] == 0
    code, output = run(env, "keys", "revoke", key_id)
    assert code == 2 and "no active key" in output
    code, output = run(env, "keys", "create", "--role", "root")
    assert code == 2 and "role must be one of" in output


def test_audit_list_filters_and_verify(env: dict[str, str]) -> None:
    run(env, "keys", "create", "--role", "admin")
    run(env, "keys", "create", "--role", "viewer")
    code, output = run(env, "audit", "list", "--action", "keys.", "--json")
    rows = [json.loads(line) for line in output.splitlines()]
    assert code == 0 and [r["action"] for r in rows] == ["keys.create", "keys.create"]
    assert rows[0]["actor"].startswith("cli:") and rows[0]["client"] == "local"
    code, output = run(env, "audit", "verify")
    assert code == 0 and "intact: 3 rows" in output and "anchored at row 3" in output
    code, output = run(env, "audit", "list", "--since", "2026-01-01T00:00:00")
    assert code == 2 and "time zone" in output


def test_reading_the_audit_log_is_itself_audited(env: dict[str, str]) -> None:
    """Issue 14 item 6: `audit list` and `audit verify` left no row."""
    run(env, "keys", "create", "--role", "viewer")
    assert run(env, "audit", "list", "--action", "keys.", "--limit", "5")[0] == 0
    assert run(env, "audit", "verify")[0] == 0
    code, output = run(env, "audit", "list", "--action", "audit.", "--json")
    assert code == 0
    rows = [json.loads(line) for line in output.splitlines()]
    assert [r["action"] for r in rows] == ["audit.verify", "audit.list"]
    assert rows[1]["detail"]["action_filter"] == "keys." and rows[1]["detail"]["rows"] == 1
    assert rows[0]["outcome"] == "ok" and rows[0]["actor"].startswith("cli:")


def test_audit_verify_sees_a_cut_tail(env: dict[str, str]) -> None:
    from sqlalchemy import text

    for _ in range(3):
        run(env, "keys", "create", "--role", "viewer")
    engine = open_engine(env["PAYBRIDGE__STORE__URL"])
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    code, output = run(env, "audit", "verify")
    assert code == 1 and "tail is missing" in output and "row 3" in output


def test_audit_rotate_key_keeps_the_chain(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "keys", "create", "--role", "viewer")
    code, output = run(env, "audit", "rotate-key")
    assert code == 0 and "new audit key" in output
    run(env, "keys", "create", "--role", "viewer")
    code, output = run(env, "audit", "list", "--json")
    keys = {json.loads(line)["key_id"] for line in output.splitlines()}
    assert len(keys) == 2
    assert run(env, "audit", "verify")[0] == 0
    key_file = tmp_path / "pb.db.audit.key"
    assert len(key_file.read_text().split()) == 2 and (key_file.stat().st_mode & 0o777) == 0o600


def test_audit_verify_exits_1_naming_the_bad_row(env: dict[str, str]) -> None:
    from sqlalchemy import text

    for _ in range(3):
        run(env, "keys", "create", "--role", "viewer")
    engine = open_engine(env["PAYBRIDGE__STORE__URL"])
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 2"))
    code, output = run(env, "audit", "verify")
    assert code == 1 and "row 2" in output


def test_audit_list_shows_markup_like_actors_as_text(env: dict[str, str]) -> None:
    """A caller-chosen key id such as ``[/]`` is text in the table, not Rich markup."""
    from paybridge.clock import SystemClock
    from paybridge.security.audit import AuditLog

    log = AuditLog(open_engine(env["PAYBRIDGE__STORE__URL"]), SystemClock())
    log.record(actor="key:[/]", action="auth.denied", target="[bold]GET /x[/]", outcome="denied")
    code, output = run({**env, "COLUMNS": "250"}, "audit", "list")
    assert code == 0, output
    assert "key:[/]" in output and "[bold]GET /x[/]" in output


def test_webhooks_rotate_keeps_the_old_secret_for_the_overlap(
    env: dict[str, str], tmp_path: Path
) -> None:
    from paybridge.security.webhooks import secret_bytes

    config = tmp_path / "paybridge.yaml"
    config.write_text(
        "web:\n  event_secrets:\n    storefront: [vault:webhook.storefront]\n"
        "    legacy: [env:LEGACY_SECRET]\n",
        encoding="utf-8",
    )
    c = ["--config", str(config)]
    assert run(env, "vault", "new-key", "--file", env["PAYBRIDGE_VAULT_KEY_FILE"])[0] == 0
    code, first = run(env, "webhooks", "rotate", "storefront", "--generate", *c)
    assert code == 0 and "no old secret verifies" in first
    secret = next(line for line in first.splitlines() if line.startswith("whsec_"))
    assert len(secret_bytes(secret)) == 32
    code, output = run(env, "webhooks", "rotate", "storefront", "--overlap-hours", "2", *c,
                       stdin="whsec_" + "b" * 43 + "=\n")  # fmt: skip
    assert code == 0 and "the old one verifies until" in output
    engine = open_engine(env["PAYBRIDGE__STORE__URL"])
    vault = Vault(engine, read_key_file(Path(env["PAYBRIDGE_VAULT_KEY_FILE"])))
    assert vault.get("webhook.storefront") == "whsec_" + "b" * 43 + "="
    assert json.loads(vault.get("webhook.storefront.previous"))["secret"] == secret
    code, listing = run(env, "audit", "list", "--action", "webhooks.", "--json")
    rows = [json.loads(line) for line in listing.splitlines()]
    assert [r["target"] for r in rows] == ["vault:webhook.storefront"] * 2
    assert secret not in listing and rows[0]["detail"]["previous_until"]
    code, output = run(env, "webhooks", "rotate", "legacy", "--generate", *c)
    assert code == 2 and "web.event_secrets.legacy" in output and "vault:NAME" in output
    code, output = run(env, "webhooks", "rotate", "nobody", "--generate", *c)
    assert code == 2 and "no source 'nobody'" in output
