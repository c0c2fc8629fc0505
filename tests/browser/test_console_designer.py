"""The mapping designer in a real browser against `paybridge serve` and `paybridge worker` as
processes, with both sandboxes as processes (D365's with an extension field on the payment
line, ``xyzPayTraceApproval``, as a customer's deployment has): an operator maps a field the
template did not map (``PaymentNotes`` from PayTrace's description, upper-cased) and the
custom field (from the approval code), previews them live, saves a version and dry-runs it over
the posted payment; an admin promotes it; both processes take it up
and the next payment reaches D365 with the field. A viewer sees no save or promote button, and
the server refuses the forged form. Screenshots and axe-core scans as in ``test_console``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser.test_console import PASSWORD, add_user, axe_scan, shot
from tests.e2e.product import Process, World, open_world, wait_for

LINE = "payment_to_customer_payment_line"
CUSTOM = "xyzPayTraceApproval"  # an extension field of the sandbox's D365


@dataclass
class Designer:
    world: World
    url: str
    first_tx: str
    engines: list[Process]


def sale(world: World, description: str, invoice: str) -> str:
    body = {"customer_id": "US-001", "amount": "41.20", "description": description,
            "invoice_id": invoice}  # fmt: skip
    return str(world.paytrace.call("/v1/transactions/sale/by_customer", body)["transaction_id"])


@pytest.fixture(scope="module")
def designer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Designer]:
    extension = ["--extension-field", f"CustomerPaymentJournalLines.{CUSTOM}"]
    with open_world(tmp_path_factory.mktemp("designer"), dynamics_args=extension) as world:
        world.write_settings({"mapping": {"reload_seconds": 0.5}})
        for name, role in (("vic", "viewer"), ("olga", "operator"), ("ada", "admin")):
            add_user(world, name, role)
        world.paytrace.create_customer("US-001")
        serve = world.start_engine("serve")
        worker = world.start_engine("worker")
        first = sale(world, "first order", "INV-DESIGN-1")
        wait_for("D365 holds the first sale", lambda: world.dynamics.payment_lines(first),
                 timeout=60, watch=[serve, worker])  # fmt: skip
        assert world.api_url is not None
        yield Designer(world, world.api_url, first, [serve, worker])


@pytest.fixture
def signed_in(browser: Any, designer: Designer) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(username: str) -> Any:
        context = browser.new_context(
            base_url=designer.url, viewport={"width": 1400, "height": 900}, bypass_csp=True
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/signin")
        page.get_by_label("User name", exact=True).fill(username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{designer.url}/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_a_viewer_previews_but_cannot_save_or_promote(signed_in: Any, designer: Designer) -> None:
    page = signed_in("vic")
    page.get_by_role("link", name="Mapping", exact=True).click()
    page.wait_for_url(re.compile(r"/mapping$"))
    axe_scan(page, "mapping templates")
    page.get_by_role("link", name=f"Open {LINE} in the designer").click()
    page.wait_for_url(re.compile(rf"/mapping/{LINE}$"))
    assert page.get_by_test_id("save").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async ([path, csrf]) => (await fetch(path, {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: new URLSearchParams({csrf, base: '1', 'expr.PaymentNotes': "'x'"})})).status""",
        [f"/mapping/{LINE}/save", csrf],
    )
    assert status == 403


def test_map_preview_save_dry_run_promote_and_the_next_payment_carries_it(
    signed_in: Any, designer: Designer
) -> None:
    world = designer.world
    page = signed_in("olga")
    page.goto(f"/mapping/{LINE}")
    row = page.locator('tr[data-field="PaymentNotes"]')
    assert "String" in row.inner_text()  # its type, from D365's live $metadata
    axe_scan(page, "designer")
    row.get_by_label("Source for PaymentNotes").select_option("description")
    row.get_by_label("Function for PaymentNotes").fill("upper")
    custom = page.locator(f'tr[data-field="{CUSTOM}"]')  # from the live $metadata
    assert "String" in custom.inner_text()
    custom.get_by_label(f"Source for {CUSTOM}").select_option("approval_code")
    preview = page.get_by_test_id("preview")
    notes = preview.locator("tr", has_text="PaymentNotes")
    notes.wait_for()  # htmx swapped the draft's preview in
    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview]').innerText.includes('FIRST ORDER')"
    )
    assert "upper(description)" in notes.inner_text() and '"FIRST ORDER"' in notes.inner_text()
    assert "agrees with D365" in page.get_by_test_id("check").inner_text()
    axe_scan(page, "designer with the draft's preview")
    shot(page, "designer-preview")

    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(r"/mapping/versions/\d+\?done=saved$"))
    diff = page.get_by_test_id("diff").inner_text()
    assert "+  PaymentNotes: upper(description)" in diff and f"+  {CUSTOM}: approval_code" in diff
    page.get_by_test_id("dry-run").click()
    page.wait_for_url(re.compile(r"\?n=20$"))
    dry = page.get_by_test_id("dry-run-result").inner_text()
    assert f"paytrace:{designer.first_tx}:sale" in dry and '"FIRST ORDER"' in dry, dry
    axe_scan(page, "saved version with dry run")
    shot(page, "designer-dry-run")
    version_url = page.url.split("?")[0]

    admin = signed_in("ada")
    admin.goto(version_url)
    admin.get_by_test_id("promote").click()
    admin.wait_for_url(re.compile(r"done=promoted$"))
    assert "by user:ada" in admin.get_by_test_id("promotion").inner_text()
    axe_scan(admin, "promoted version")
    shot(admin, "designer-promoted")

    for process in designer.engines:  # serve and the worker both map with version 2 now
        wait_for(f"{process.name} rebuilt with {LINE}@2",
                 lambda p=process: f"{LINE}@2" in p.tail(20_000), timeout=30, watch=designer.engines)  # fmt: skip
    second = sale(world, "web order 2", "INV-DESIGN-2")
    (line,) = wait_for("D365 holds the second sale", lambda: world.dynamics.payment_lines(second),
                       timeout=60, watch=designer.engines)  # fmt: skip
    assert line["PaymentNotes"] == "WEB ORDER 2"
    sale_record = next(
        t for t in world.paytrace.transactions() if str(t["transaction_id"]) == second
    )
    assert line[CUSTOM] == sale_record["approval_code"] and line[CUSTOM]  # the custom field
    trace = world.cli("trace", second, "--json").stdout
    assert f'"{LINE}@2"' in trace, trace
    (first,) = world.dynamics.payment_lines(designer.first_tx)
    assert first["PaymentNotes"] == "" and not first.get(CUSTOM)  # posted lines stay as they were
