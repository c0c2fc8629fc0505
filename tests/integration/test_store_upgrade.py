"""Schema upgrades: on open by default, explicit with store.auto_upgrade false, one at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from paybridge.cli import app
from paybridge.errors import ConfigError
from paybridge.store import connect, migrate, open_engine, require_head, safe_url, schema_state
from paybridge.store.database import _config
from tests.conftest import drop_postgres_schema, postgres_schema_url


def test_a_store_is_upgraded_on_open_by_default(store_url: str) -> None:
    engine = open_engine(store_url)
    state = schema_state(engine)
    assert state.at_head and state.current == state.heads and len(state.heads) >= 4
    assert "queue" in inspect(engine).get_table_names()


def test_without_auto_upgrade_a_new_store_is_refused_untouched(store_url: str) -> None:
    with pytest.raises(ConfigError, match="paybridge db upgrade") as refused:
        open_engine(store_url, upgrade=False)
    assert "revision none (a new store)" in str(refused.value)
    assert inspect(connect(store_url)).get_table_names() == []  # nothing was created


def test_migrate_says_where_it_started_and_is_safe_to_rerun(store_url: str) -> None:
    engine = connect(store_url)
    partial = _config()
    with engine.begin() as connection:  # an older PayBridge's store: the runtime branch only
        partial.attributes["connection"] = connection
        command.upgrade(partial, "0003_runtime")
    with pytest.raises(ConfigError, match="at schema revision 0003_runtime"):
        require_head(engine)
    before, after = migrate(engine)
    assert before.current == {"0003_runtime"} and after.at_head
    again_before, again_after = migrate(engine)
    assert again_before.current == again_after.current == after.current
    assert require_head(engine).at_head
    open_engine(store_url, upgrade=False)  # at head: opens


def test_a_store_a_newer_paybridge_upgraded_is_refused(store_url: str) -> None:
    engine = open_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('9999_future')"))
    for attempt in (lambda: open_engine(store_url), lambda: open_engine(store_url, upgrade=False)):
        with pytest.raises(ConfigError, match="does not know \\(9999_future\\)"):
            attempt()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    schema, url = postgres_schema_url()
    yield url
    drop_postgres_schema(schema)


@pytest.mark.postgres
def test_processes_starting_together_upgrade_one_at_a_time(postgres_url: str) -> None:
    """The advisory lock: several engines migrating one new schema at once all end at head.

    (SQLite needs none: BEGIN IMMEDIATE already lets one writer in at a time.)
    """
    store_url = postgres_url
    failures: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate(connect(store_url))
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert schema_state(connect(store_url)).at_head


def test_a_password_in_the_url_is_never_shown() -> None:
    shown = safe_url("postgresql+psycopg://paybridge:s3cr3t-pw@db:5432/paybridge")
    assert "s3cr3t-pw" not in shown and shown.startswith("postgresql+psycopg://paybridge:***@db")
    with pytest.raises(ConfigError) as bad:
        connect("postgresql+nosuchdriver://paybridge:s3cr3t-pw@db/paybridge")
    assert "s3cr3t-pw" not in str(bad.value)


def test_db_commands(tmp_path: Path) -> None:
    config = tmp_path / "paybridge.yaml"
    store = tmp_path / "pb.db"
    config.write_text(
        f"store:\n  url: sqlite:///{store}\n  auto_upgrade: false\n", encoding="utf-8"
    )
    runner = CliRunner()
    behind = runner.invoke(app, ["db", "status", "--config", str(config)])
    assert behind.exit_code == 1 and "at none (a new store)" in behind.stdout
    assert "run `paybridge db upgrade`" in behind.stderr
    done = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert done.exit_code == 0, done.output
    heads = ", ".join(sorted(ScriptDirectory.from_config(_config()).get_heads()))
    assert f"upgraded from none (a new store) to {heads}" in done.stdout
    again = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert again.exit_code == 0 and f"already at {heads}" in again.stdout
    assert runner.invoke(app, ["db", "status", "--config", str(config)]).exit_code == 0
    rows = runner.invoke(app, ["audit", "list", "--action", "db.", "--config", str(config)])
    assert rows.stdout.count("db.upgrade") == 1, rows.output  # the change, not the no-op


def test_db_upgrade_names_an_unreachable_store_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "paybridge.yaml"
    config.write_text(
        "store:\n  url: postgresql+psycopg://paybridge:s3cr3t-pw@127.0.0.1:1/paybridge\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 2
    assert "cannot reach the store at postgresql+psycopg://paybridge:***@127.0.0.1:1" in (
        result.stderr
    )
    assert "s3cr3t-pw" not in result.output and "Traceback" not in result.output


def test_serve_and_worker_refuse_a_store_behind_without_auto_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `paybridge serve`/`worker` build: the engine opens the store as the settings say."""
    from paybridge.app.engine import build_engine
    from paybridge.app.settings import Settings, StoreSettings

    url = f"sqlite:///{tmp_path / 'pb.db'}"
    explicit = Settings(store=StoreSettings(url=url, auto_upgrade=False))
    with pytest.raises(ConfigError, match="run `paybridge db upgrade"):
        build_engine(explicit)
    assert inspect(connect(url)).get_table_names() == []
    migrate(connect(url))
    # At head, the store is no longer what stops it (the next check is the PayTrace login).
    monkeypatch.delenv("PAYTRACE_USERNAME", raising=False)
    with pytest.raises(ConfigError, match=r"paytrace\.username"):
        build_engine(explicit)


@pytest.mark.parametrize(
    "command",
    [["dlq", "list"], ["xref", "list"], ["trace", "123"], ["alerts", "status"]],
)
def test_commands_that_read_the_store_respect_auto_upgrade(
    tmp_path: Path, command: list[str]
) -> None:
    """With ``store.auto_upgrade: false`` no command upgrades the store behind the operator's
    back: each refuses a store not at this code's schema and names ``paybridge db upgrade``."""
    config = tmp_path / "paybridge.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'pb.db'}\n  auto_upgrade: false\n", encoding="utf-8"
    )
    runner = CliRunner()
    refused = runner.invoke(app, [*command, "--config", str(config)])
    assert refused.exit_code == 2, refused.output
    assert "db upgrade" in refused.output
    still = runner.invoke(app, ["db", "status", "--config", str(config)])
    assert still.exit_code == 1  # nothing upgraded it
