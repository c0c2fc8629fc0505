"""The console in a real browser (Debian's Chromium through Playwright) against `paybridge serve`
started as a process from a settings file, with both sandboxes as processes.

Users are added with `paybridge users add`; payments are made in the PayTrace sandbox; what the
console did is read back from D365 and the CLI. Each test saves screenshots under
``build/console-screenshots`` and scans every page it opens with axe-core (vendored in
``tests/browser/assets``, injected into the page): no serious or critical violation may remain.
Skips when Playwright or Chromium is missing, except under CI=true, where it fails.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.product import BIN, World, open_world, process_env, wait_for

PASSWORD = "a long console password"
ASSETS = Path(__file__).parent / "assets"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
BLOCKING = ("serious", "critical")


@dataclass
class Console:
    world: World
    url: str
    posted_tx: str
    dead_tx: str
    dead_id: int


def add_user(world: World, name: str, role: str) -> None:
    assert world.config is not None
    done = subprocess.run(
        [str(BIN / "paybridge"), "users", "add", name, "--role", role, "--config", str(world.config)],
        input=PASSWORD, capture_output=True, text=True, env=process_env(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"added {name} ({role})" in done.stdout


def open_dead_letters(world: World, key: str) -> dict[str, int]:
    shown = world.cli("dlq", "list").stdout
    return {
        m.group(2): int(m.group(1))
        for m in re.finditer(r"│\s*(\d+)\s*│\s*(paytrace:\S+)", shown)
        if m.group(2) == key
    }


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """serve with both sandboxes; one sale posted in D365, one dead for want of a customer."""
    with open_world(tmp_path_factory.mktemp("console")) as world:
        world.write_settings({"metrics": {"heartbeat_seconds": 1}})
        add_user(world, "vic", "viewer")
        add_user(world, "olga", "operator")
        add_user(world, "ada", "admin")
        serve = world.start_engine("serve")
        for profile in ("US-001", "NOBODY-7"):
            world.paytrace.create_customer(profile)
        posted = world.paytrace.sale_by_customer("US-001", "1234.56", "INV-CONSOLE-1")
        dead = world.paytrace.sale_by_customer("NOBODY-7", "20.00", "INV-CONSOLE-2")
        wait_for("D365 holds the good sale", lambda: world.dynamics.payment_lines(posted),
                 timeout=60, watch=[serve])  # fmt: skip
        key = f"paytrace:{dead}:sale"
        found = wait_for("the unknown customer's sale is a dead letter",
                         lambda: open_dead_letters(world, key), timeout=60, watch=[serve])  # fmt: skip
        assert world.api_url is not None
        yield Console(world, world.api_url, posted, dead, found[key])


def axe_scan(page: Any, name: str) -> None:
    """axe-core inside the page; fails naming each serious or critical violation. A framed
    document (the reconciliation report) is scanned on its own page."""
    page.add_script_tag(path=str(ASSETS / "axe.min.js"))
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'], iframes: false})"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v.get("impact") in BLOCKING
    ]
    assert not bad, f"{name}: " + "; ".join(bad)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def page_for(browser: Any, console: Console) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(username: str) -> Any:
        # bypass_csp only so the test can inject axe-core; the app's own CSP is tested over HTTP.
        context = browser.new_context(
            base_url=console.url, viewport={"width": 1280, "height": 900}, bypass_csp=True
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        assert "/signin" in page.url
        page.get_by_label("User name", exact=True).fill(username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{console.url}/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_sign_in_page_and_a_wrong_password(browser: Any, console: Console) -> None:
    context = browser.new_context(base_url=console.url, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto("/signin")
        axe_scan(page, "sign-in")
        page.get_by_label("User name", exact=True).fill("vic")
        page.get_by_label("Password", exact=True).fill("not the password")
        page.get_by_role("button", name="Sign in", exact=True).click()
        assert "not accepted" in page.get_by_role("alert").inner_text()
        shot(page, "signin-refused")
    finally:
        context.close()


def test_a_viewer_sees_no_operator_buttons_and_a_forged_post_is_refused(
    page_for: Any, console: Console
) -> None:
    page = page_for("vic")
    assert "user:vic (viewer)" in page.get_by_test_id("who").inner_text()
    dead_tile = page.get_by_test_id("tile-dead")
    assert dead_tile.locator(".figure").inner_text() == "1"
    axe_scan(page, "dashboard")
    shot(page, "dashboard")

    dead_tile.click()
    page.wait_for_url(re.compile(r"/errors$"))
    assert page.get_by_role("button", name=re.compile("Retry all")).count() == 0
    axe_scan(page, "errors (viewer)")
    page.get_by_role("link", name=str(console.dead_id), exact=True).click()
    page.wait_for_url(re.compile(rf"/errors/{console.dead_id}$"))
    for label in ("Resolve", "Ignore", "Retry", "Link and retry"):
        assert page.get_by_role("button", name=label, exact=True).count() == 0
    axe_scan(page, "dead letter (viewer)")
    shot(page, "dead-letter-viewer")

    # The form a viewer cannot see, forged with the viewer's own valid CSRF token.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async ([path, csrf]) => (await fetch(path, {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: new URLSearchParams({csrf, action: 'resolve'})})).status""",
        [f"/errors/{console.dead_id}/triage", csrf],
    )
    assert status == 403
    page.reload()
    assert page.get_by_test_id("state").inner_text() == "open"


def test_find_a_payment_and_read_its_lineage(page_for: Any, console: Console) -> None:
    page = page_for("vic")
    page.get_by_role("link", name="Payments").click()
    page.wait_for_url(re.compile(r"/payments$"))
    axe_scan(page, "payments")
    page.get_by_label("Invoice").fill("INV-CONSOLE-1")
    page.get_by_label("Amount from").fill("1000")
    page.get_by_role("button", name="Search").click()  # htmx swaps the results in
    page.wait_for_url(re.compile(r"invoice=INV-CONSOLE-1"))
    rows = page.get_by_test_id("payments").locator("tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1 and "1,234.56 USD" in rows.first.inner_text()
    shot(page, "payments-search")
    rows.first.get_by_role("link", name=console.posted_tx).click()
    page.wait_for_url(re.compile(rf"/payments/{console.posted_tx}$"))
    lineage = page.get_by_test_id("lineage").inner_text()
    assert "seen sale" in lineage and "d365.payment_line" in lineage and "posted" in lineage
    axe_scan(page, "payment lineage")
    shot(page, "payment-lineage")
    page.get_by_role("link", name="record").first.click()
    assert '"transaction_id"' in page.locator("pre").inner_text()
    axe_scan(page, "raw record")


def test_an_operator_resolves_then_edits_and_retries_so_the_payment_posts(
    page_for: Any, console: Console
) -> None:
    page = page_for("olga")
    page.goto(f"/errors/{console.dead_id}")
    axe_scan(page, "dead letter (operator)")
    triage = page.get_by_role("form", name="Triage")
    triage.get_by_label("Comment").fill("customer not linked yet")
    triage.get_by_label("Assignee").fill("olga")
    triage.get_by_role("button", name="Resolve", exact=True).click()
    page.wait_for_url(re.compile(r"done=resolve"))
    assert page.get_by_test_id("state").inner_text() == "resolved"
    assert "customer not linked yet" in page.get_by_test_id("history").inner_text()
    shot(page, "dead-letter-operator")

    edit = page.get_by_role("form", name=re.compile("Edit and retry"))
    edit.get_by_label("D365 customer (company/account)").fill("usmf/US-001")
    edit.get_by_role("button", name="Link and retry").click()
    page.wait_for_url(re.compile(r"/errors\?done=link"))
    assert "back in the queue" in page.get_by_role("status").inner_text()
    lines = wait_for(
        "the replayed payment posts in D365",
        lambda: console.world.dynamics.payment_lines(console.dead_tx),
        timeout=60,
        watch=[p for p in console.world.processes if p.name == "paybridge serve"],
    )
    assert len(lines) == 1 and str(lines[0]["AccountDisplayValue"]).replace("\\", "").endswith(
        "US-001"
    )
    page.goto(f"/payments/{console.dead_tx}")
    lineage = page.get_by_test_id("lineage").inner_text()
    assert "dead letter replay" in lineage and "d365.payment_line" in lineage
    shot(page, "edit-and-retry-posted")
    audit = console.world.cli("audit", "list", "--actor", "user:olga").stdout
    assert "xref.link" in audit and "dlq.replay" in audit and "dlq.resolve" in audit


def test_a_reconciliation_day_is_opened_and_healed(page_for: Any, console: Console) -> None:
    page = page_for("olga")
    page.get_by_role("link", name="Reconciliation").click()
    page.wait_for_url(re.compile(r"/reconcile$"))
    axe_scan(page, "reconciliation calendar")
    today = page.get_by_test_id("calendar").locator("tbody tr").first
    cell = today.get_by_role("link")
    assert cell.get_attribute("aria-label").endswith("not reconciled")
    cell.click()
    page.wait_for_url(re.compile(r"/reconcile/usmf/\d{4}-\d{2}-\d{2}$"))
    report = page.frame_locator("iframe.report")
    report.locator("h1").first.wait_for(timeout=60_000)
    assert "usmf" in report.locator("h1").first.inner_text().lower()
    axe_scan(page, "reconciliation day")
    shot(page, "reconciliation-day")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download XLSX").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    page.get_by_role("button", name="Heal this day").click()
    page.wait_for_url(re.compile(r"done=heal"))
    assert "Healed" in page.get_by_role("status").inner_text()
    page.goto("/reconcile")
    label = page.get_by_test_id("calendar").locator("tbody tr").first.get_by_role("link")
    assert not label.get_attribute("aria-label").endswith("not reconciled")
    shot(page, "reconciliation-calendar")
    report_url = page.url.replace("/reconcile", "") + label.get_attribute("href") + "/report.html"
    page.goto(report_url)
    axe_scan(page, "reconciliation report")
    audit = console.world.cli("audit", "list", "--action", "reconcile.").stdout
    assert "reconcile.heal" in audit and "user:olga" in audit


def test_an_admin_reads_users_keys_and_the_verified_audit_log(
    page_for: Any, console: Console
) -> None:
    page = page_for("ada")
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(re.compile(r"/admin$"))
    users = page.get_by_test_id("users").inner_text()
    assert "vic" in users and "olga" in users and "operator" in users
    axe_scan(page, "admin")
    page.get_by_role("link", name="The audit log").click()
    page.get_by_label("Action (or prefix)").fill("dlq.")
    page.get_by_role("button", name="Filter and verify the chain").click()
    page.wait_for_url(re.compile(r"verify=1"))
    assert "The chain verifies" in page.get_by_test_id("verify").inner_text()
    axe_scan(page, "audit log")
    shot(page, "audit-log")
