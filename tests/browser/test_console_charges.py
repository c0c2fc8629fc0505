"""Charges, subscriptions, the flow view and the settings page in a real browser against
`paybridge serve` as a process with both sandboxes as processes: an operator charges a D365
invoice from the console (double-clicking the button) and PayTrace holds exactly one sale; a
subscription is paused and resumed; the in-doubt tile leads to its list; the flow view and the
settings page show the rules and where each value came from. Screenshots and axe-core scans as
in ``test_console``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_console import PASSWORD, add_user, axe_scan, shot
from tests.e2e.product import World, open_world, wait_for


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("charges")) as opened:
        opened.write_settings({"o2c": {"void_unposted": "delete"}})
        for name, role in (("vic", "viewer"), ("olga", "operator"), ("ada", "admin")):
            add_user(opened, name, role)
        opened.paytrace.create_customer("US-001")
        opened.cli("subscriptions", "add", "--customer", "US-001", "--amount", "19.99",
                   "--start", "2030-01-01", "--d365", "usmf/US-001")  # fmt: skip
        opened.start_engine("serve")
        yield opened


@pytest.fixture
def signed_in(browser: Any, world: World) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(username: str) -> Any:
        context = browser.new_context(
            base_url=world.api_url, viewport={"width": 1280, "height": 900}, bypass_csp=True
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/signin")
        page.get_by_label("User name", exact=True).fill(username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{world.api_url}/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_an_operator_charges_an_invoice_and_a_double_click_charges_once(
    signed_in: Any, world: World
) -> None:
    page = signed_in("olga")
    page.get_by_role("link", name="Charges", exact=True).click()
    page.wait_for_url(re.compile(r"/charges\?key=console-[0-9a-f]{20}$"))
    axe_scan(page, "charges")
    key = page.get_by_test_id("idempotency-key").inner_text()
    assert key.startswith("console-")
    page.get_by_label("Company", exact=True).fill("usmf")
    page.get_by_label("Invoice", exact=True).fill("CIV-000101")
    page.get_by_label("Amount (optional)").fill("25.00")
    shot(page, "charge-form")
    page.get_by_test_id("charge").dblclick()
    page.wait_for_url(re.compile(rf"/charges/{key}\?done="))
    page.wait_for_function(
        "() => document.querySelector('[data-testid=charge-status]').innerText === 'approved'"
    )
    sales = wait_for("PayTrace holds the charge",
                     lambda: world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000101"),
                     timeout=30)  # fmt: skip
    assert len(sales) == 1, sales  # one charge for two clicks
    assert sales[0]["amount"] in ("25.00", "25.0", 25.0, 25), sales[0]
    assert sales[0]["description"].startswith(f"PayBridge charge {key}")
    assert str(sales[0]["transaction_id"]) in page.get_by_test_id("charge-transaction").inner_text()
    axe_scan(page, "charge")
    shot(page, "charge-approved")
    page.go_back()  # the form again, with the same key: a resubmit is the same charge
    page.wait_for_url(re.compile(rf"/charges\?key={key}$"))
    page.get_by_label("Company", exact=True).fill("usmf")
    page.get_by_label("Invoice", exact=True).fill("CIV-000101")
    page.get_by_label("Amount (optional)").fill("25.00")
    page.get_by_test_id("charge").click()
    page.wait_for_url(re.compile(rf"/charges/{key}\?done=replayed$"))
    assert len(world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000101")) == 1


def test_subscriptions_in_doubt_list_flow_and_settings(signed_in: Any, world: World) -> None:
    page = signed_in("olga")
    tile = page.get_by_test_id("tile-charges-in-doubt")
    assert tile.locator(".figure").inner_text() == "0"
    assert "%" in page.get_by_test_id("tile-d365-budget").inner_text()
    tile.click()
    page.wait_for_url(re.compile(r"/charges\?status=in_doubt&key=console-[0-9a-f]{20}$"))
    assert "No charges in doubt." in page.get_by_test_id("charges").inner_text()
    page.goto("/subscriptions")
    axe_scan(page, "subscriptions")
    page.get_by_role("link", name="1", exact=True).click()
    page.wait_for_url(re.compile(r"/subscriptions/1$"))
    assert "2030-02-01" in page.inner_text("main")  # the schedule ahead
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_url(re.compile(r"done=pause$"))
    assert page.get_by_test_id("sub-status").inner_text() == "paused"
    axe_scan(page, "subscription")
    shot(page, "subscription-paused")
    page.get_by_role("button", name="Resume", exact=True).click()
    page.wait_for_url(re.compile(r"done=resume$"))
    assert page.get_by_test_id("sub-status").inner_text() == "active"

    viewer = signed_in("vic")
    viewer.goto("/subscriptions/1")
    assert viewer.get_by_role("button", name="Pause", exact=True).count() == 0
    viewer.goto("/charges")
    assert viewer.get_by_test_id("new-charge").count() == 0
    viewer.get_by_role("link", name="Flow", exact=True).click()
    viewer.wait_for_url(re.compile(r"/flow$"))
    rules = viewer.get_by_test_id("rules").inner_text()
    assert "o2c.void_unposted" in rules and "delete" in rules and "file " in rules
    assert "o2c.missing_customer" in rules and "dead_letter" in rules
    axe_scan(viewer, "flow")
    shot(viewer, "flow")

    admin = signed_in("ada")
    admin.goto("/admin/settings")
    row = admin.locator('tr[id="paytrace.password"]').inner_text()
    assert "env:PAYTRACE_PASSWORD" in row and "secret" in row
    assert "file " in admin.locator('tr[id="o2c.void_unposted"]').inner_text()
    assert "default" in admin.locator('tr[id="web.port"]').inner_text()
    axe_scan(admin, "settings")
    shot(admin, "settings")
