"""The flow view and the admin settings page as `paybridge serve` builds them, over HTTP
in-process: live counts per step, the rules in force with their settings, and every setting with
its origin, secrets only as their reference names, for admins only."""

from __future__ import annotations

import re

import pytest

from paybridge.app.settings import load_settings
from tests.integration.console.test_console_designer import signed_in
from tests.integration.console.test_console_http import World, world

__all__ = ["world"]


def figure(text: str, stage: str) -> str:
    found = re.search(rf'data-testid="stage-{stage}">([^<]*)<', text)
    assert found, text
    return found.group(1)


@pytest.mark.anyio
async def test_the_flow_counts_each_step_and_names_the_rules(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    page = await web.get("/flow")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert figure(page.text, "route") == "1"  # the payment of the unknown customer
    assert figure(page.text, "inbox") == "0"
    assert "<code>o2c.missing_customer</code>" in page.text and "dead_letter" in page.text
    assert "<code>o2c.void_unposted</code>" in page.text
    assert "<code>dynamics.journal_name</code>" in page.text
    assert 'href="/admin/settings#' not in page.text  # a viewer cannot open them


@pytest.mark.anyio
async def test_settings_show_their_origin_and_never_a_secret(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    assert (await web.get("/admin/settings")).status_code == 403
    web = await signed_in(world, "ada", "admin")
    page = await web.get("/admin/settings")
    assert page.status_code == 200
    row = re.search(r'<tr id="paytrace.password">.*?</tr>', page.text, re.S)
    assert row and "secret" in row.group(0)
    # These settings were built in code with the sandbox's password itself: never shown.
    assert "(given as a value, not a reference; not shown)" in row.group(0)
    secret = world.engine.settings.paytrace.password.get_secret_value()
    assert f"<code>{secret}</code>" not in page.text
    assert re.search(r'<tr id="web.port">.*?<td>default</td></tr>', page.text, re.S)


def test_origins_name_the_file_and_the_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "paybridge.yaml"
    path.write_text("o2c:\n  missing_customer: create\nworker:\n  retry:\n    payment:\n"
                    "      max_attempts: 3\n", encoding="utf-8")  # fmt: skip
    settings = load_settings(path, {"PAYBRIDGE__O2C__VOID_UNPOSTED": "delete"})
    assert settings.origin_of("o2c.missing_customer") == f"file {path}"
    assert settings.origin_of("worker.retry.payment.max_attempts") == f"file {path}"
    assert settings.origin_of("o2c.void_unposted") == "env PAYBRIDGE__O2C__VOID_UNPOSTED"
    assert settings.origin_of("o2c.post_at") == "default"
