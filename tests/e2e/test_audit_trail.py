"""The audit trail as an operator and an intruder meet it: `paybridge` run as a process, the store
opened with sqlite3 as someone with database access would, nothing imported from ``paybridge``."""

from __future__ import annotations

import getpass
import json
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.product import BIN, process_env


class Operator:
    """The `paybridge` CLI on one settings file and its SQLite store."""

    def __init__(self, tmp: Path, extra_settings: str = "") -> None:
        self.db = tmp / "paybridge.db"
        self.config = tmp / "paybridge.yaml"
        self.config.write_text(f"store:\n  url: sqlite:///{self.db}\n{extra_settings}")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "paybridge"), *args, "--config", str(self.config)],
            capture_output=True, text=True, env=process_env(), timeout=60, check=False,
        )  # fmt: skip

    def rows(self) -> list[dict[str, object]]:
        listed = self.run("audit", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        return [json.loads(line) for line in listed.stdout.splitlines()]

    def intrude(self, *statements: str) -> None:
        """What someone who can write the database (not read the key) does."""
        with sqlite3.connect(self.db) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            for statement in statements:
                conn.execute(statement)


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    op = Operator(tmp_path)
    linked = op.run("xref", "link", "SHOP-1", "usmf/US-001")
    assert linked.returncode == 0, linked.stderr
    for role in ("viewer", "operator"):
        assert op.run("keys", "create", "--role", role).returncode == 0
    return op


def test_an_xref_link_is_listed_and_the_chain_is_keyed_and_anchored(operator: Operator) -> None:
    table = operator.run("audit", "list")
    assert table.returncode == 0 and "xref.link" in table.stdout
    assert f"cli:{getpass.getuser()}" in table.stdout
    rows = operator.rows()
    link = next(r for r in rows if r["action"] == "xref.link")
    assert link["target"] == "paytrace_customer:SHOP-1" and link["client"] == "local"
    assert link["detail"] == {"d365": "usmf/US-001", "previous": None}
    assert [r["action"] for r in rows][:1] == ["audit.list"]  # the table read above is a row
    key_file = operator.db.with_name("paybridge.db.audit.key")
    anchor = operator.db.with_name("paybridge.db.audit-head")
    for path in (key_file, anchor, operator.db):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert json.loads(anchor.read_text())["seq"] == max(int(str(r["seq"])) for r in rows) + 1
    verified = operator.run("audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stderr


def test_an_edited_row_is_named_by_verify(operator: Operator) -> None:
    operator.intrude("UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 1")
    verified = operator.run("audit", "verify")
    assert verified.returncode == 1
    assert "row 1 was changed" in verified.stderr


def test_a_cut_tail_is_detected_even_with_the_anchor_removed(operator: Operator) -> None:
    operator.intrude("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    verified = operator.run("audit", "verify")
    assert verified.returncode == 1 and "tail is missing" in verified.stderr, verified.stderr
    operator.db.with_name("paybridge.db.audit-head").unlink()
    operator.intrude("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    verified = operator.run("audit", "verify")
    assert verified.returncode == 1 and "missing" in verified.stderr, verified.stderr


def test_a_plain_webhook_secret_in_the_settings_file_stops_serve(tmp_path: Path) -> None:
    op = Operator(tmp_path, "web:\n  event_secrets:\n    storefront: [whsec_c2VjcmV0MTIz]\n")
    served = op.run("serve")
    assert served.returncode == 2
    assert "web.event_secrets.storefront[0] must be a reference" in served.stderr
    assert "c2VjcmV0MTIz" not in served.stderr + served.stdout


def test_markup_in_ids_is_listed_as_text(operator: Operator) -> None:
    assert operator.run("xref", "link", "[/]", "usmf/US-9").returncode == 0
    for args in (("audit", "list"), ("xref", "list")):
        listed = operator.run(*args)
        assert listed.returncode == 0, listed.stderr
        assert "[/]" in listed.stdout
