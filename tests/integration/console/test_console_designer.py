"""The mapping designer as `paybridge serve` builds it, over HTTP in-process against both
sandboxes: target fields from the live $metadata, a real payment as the sample, live preview with
per-field errors and `mapping check`, save (operator), diff, dry run, promote (admin), audited."""

from __future__ import annotations

import re

import httpx
import pytest

from paybridge.app.clients import templates_for
from paybridge.keys import LINE_STEP
from tests.integration.console.test_console_http import PASSWORD, World, csrf_of, sign_in, world

__all__ = ["world"]
LINE = "payment_to_customer_payment_line"


async def signed_in(world: World, name: str, role: str) -> httpx.AsyncClient:
    world.engine.security.users.add(name, PASSWORD, role)
    web = world.web
    web.cookies.clear()
    done = await sign_in(web, username=name, password=PASSWORD)
    assert done.status_code == 303, done.text
    return web


@pytest.mark.anyio
async def test_the_designer_shows_metadata_fields_and_a_real_payment(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    listing = await web.get("/mapping")
    assert listing.status_code == 200 and f"{LINE}@1" in listing.text
    page = await web.get(f"/mapping/{LINE}")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    # Right: every field of the entity from $metadata, with its type and flags.
    assert 'data-field="PaymentNotes"' in page.text and 'data-field="CreditAmount"' in page.text
    assert re.search(r'data-field="JournalBatchNumber".*?required', page.text, re.S)
    # Left: the posted payment's source fields, as it was mapped.
    assert f"paytrace:{world.posted_tx}:sale (mapped with {LINE}@1)" in page.text
    assert (
        "<code>transaction_id</code>" in page.text and f"&#34;{world.posted_tx}&#34;" in page.text
    )
    assert "Save as a new version" not in page.text  # a viewer sees no save button


@pytest.mark.anyio
async def test_preview_follows_the_edit_with_field_errors_and_check(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    csrf = csrf_of(await web.get(f"/mapping/{LINE}"))
    form = {
        "csrf": csrf,
        "base": "1",
        "src.PaymentNotes": "description",
        "fn.PaymentNotes": "upper",
    }
    shown = await web.post(f"/mapping/{LINE}/preview", data=form, headers={"HX-Request": "true"})
    assert shown.status_code == 200, shown.text
    assert "<html" not in shown.text  # the fragment htmx swaps in
    assert "upper(description)" in shown.text
    row = re.search(r"<td>PaymentNotes</td>.*?</tr>", shown.text, re.S)
    assert row and "<code>&#34;&#34;</code>" in row.group(0)  # this payment had no description
    pasted = {**form, "sample_json": '{"description": "web order", "kind": "sale"}'}
    shown = await web.post(f"/mapping/{LINE}/preview", data=pasted, headers={"HX-Request": "true"})
    row = re.search(r"<td>PaymentNotes</td>.*?</tr>", shown.text, re.S)
    assert row and "<code>&#34;WEB ORDER&#34;</code>" in row.group(0), shown.text
    assert "The draft agrees with D365" in shown.text
    # A field D365 does not have, and an expression that fails on this sample.
    bad = {
        **form,
        "new.name": "NoSuchField",
        "new.expr": "'x'",
        "expr.TransactionDate": "d365_date(description, 'UTC')",
    }
    bad.pop("src.PaymentNotes")
    answer = await web.post(f"/mapping/{LINE}/preview", data=bad, headers={"HX-Request": "true"})
    assert "CustomerPaymentJournalLines has no field &#39;NoSuchField&#39;" in answer.text
    assert 'class="problem">error:' in answer.text, answer.text
    broken = {**form, "expr.PaymentNotes": "upper(", "src.PaymentNotes": ""}
    answer = await web.post(f"/mapping/{LINE}/preview", data=broken, headers={"HX-Request": "true"})
    assert "does not compile" in answer.text


@pytest.mark.anyio
async def test_save_diff_dry_run_and_promote_by_role(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    csrf = csrf_of(await web.get(f"/mapping/{LINE}"))
    form = {"csrf": csrf, "base": "1", "expr.PaymentNotes": "concat('Paid: ', description)"}
    refused = await web.post(f"/mapping/{LINE}/save", data=form)
    assert refused.status_code == 403
    web = await signed_in(world, "olga2", "operator")
    form["csrf"] = csrf_of(await web.get(f"/mapping/{LINE}"))
    saved = await web.post(f"/mapping/{LINE}/save", data=form)
    assert saved.status_code == 303, saved.text
    target = saved.headers["location"]
    page = await web.get(target)
    assert f"{LINE}@2" in page.text and "+  PaymentNotes: &#39;concat(" in page.text, page.text
    assert 'data-testid="promote"' not in page.text  # an operator saves, an admin promotes
    # Saved, not in use: the engine's set still maps with version 1.
    assert (
        templates_for(world.engine.settings, world.engine.mapping_versions).get(LINE).version == 1
    )
    dry = await web.get(target.split("?")[0] + "?n=5")
    result = re.search(r'<table data-testid="dry-run-result">.*?</table>', dry.text, re.S)
    assert result and f"paytrace:{world.posted_tx}:sale" in result.group(0), dry.text
    assert "<td>PaymentNotes</td><td>–</td>" in result.group(0)  # added ...
    assert "<code>&#34;Paid: &#34;</code>" in result.group(0)  # ... with this value
    version_id = int(target.split("/")[-1].split("?")[0])
    csrf = csrf_of(page)
    assert (
        await web.post(f"/mapping/versions/{version_id}/promote", data={"csrf": csrf})
    ).status_code == 403
    web = await signed_in(world, "ada", "admin")
    page = await web.get(f"/mapping/versions/{version_id}")
    done = await web.post(f"/mapping/versions/{version_id}/promote", data={"csrf": csrf_of(page)})
    assert done.status_code == 303 and "done=promoted" in done.headers["location"]
    assert (
        templates_for(world.engine.settings, world.engine.mapping_versions).get(LINE).version == 2
    )
    audit = world.engine.security.audit
    assert [r.actor for r in audit.search(action="mapping.save")] == ["user:olga2"]
    assert [r.target for r in audit.search(action="mapping.promote")] == [f"mapping:{LINE}@2"]
    assert [r.outcome for r in audit.search(action="auth.forbidden")] == ["forbidden", "forbidden"]


@pytest.mark.anyio
async def test_a_version_mapping_check_refuses_is_not_promoted(world: World) -> None:
    web = await signed_in(world, "olga2", "operator")
    csrf = csrf_of(await web.get(f"/mapping/{LINE}"))
    form = {"csrf": csrf, "base": "1", "new.name": "xyzRegion", "new.src": "kind"}
    saved = await web.post(f"/mapping/{LINE}/save", data=form)
    assert saved.status_code == 303, saved.text  # it compiles; D365 has no such field
    version_id = int(saved.headers["location"].split("/")[-1].split("?")[0])
    web = await signed_in(world, "ada", "admin")
    page = await web.get(f"/mapping/versions/{version_id}")
    refused = await web.post(
        f"/mapping/versions/{version_id}/promote", data={"csrf": csrf_of(page)}
    )
    assert refused.status_code == 303 and "problem=" in refused.headers["location"]
    shown = await web.get(refused.headers["location"])
    assert "mapping check refuses" in shown.text and "xyzRegion" in shown.text
    assert (
        templates_for(world.engine.settings, world.engine.mapping_versions).get(LINE).version == 1
    )
    (row,) = world.engine.security.audit.search(action="mapping.promote")
    assert row.outcome == "refused" and row.actor == "user:ada"


@pytest.mark.anyio
async def test_a_paytrace_sourced_template_previews_on_a_record_paytrace_exports(
    world: World,
) -> None:
    web = await signed_in(world, "vera", "viewer")
    # Newer posted payments the card export cannot show: an ACH check, and a payment of a
    # merchant account no longer configured. They are left out of the samples.
    for key in ("paytrace:ACH900001:sale", "paytrace:gone/77:sale"):
        world.engine.store.ledger.record(
            key, LINE_STEP, system="d365", entity="CustomerPaymentJournalLines",
            entity_id="usmf/USMF-000009/1", status="posted",
        )  # fmt: skip
    page = await web.get("/mapping/paytrace_export_to_transaction")
    assert page.status_code == 200, page.text
    assert f"PayTrace {world.posted_tx} (sale)" in page.text
    assert "<code>credit_card.masked_number</code>" in page.text  # the export's own shape
    preview = re.search(r'<table data-testid="preview">.*?</table>', page.text, re.S)
    assert preview and 'class="problem"' not in preview.group(0), page.text
    assert re.search(
        r"amount\.amount</td><td><code>decimal\(amount\)</code></td>\s*<td><code>1234\.5</code>",
        preview.group(0),
    )  # an exact Decimal, never a float


@pytest.mark.anyio
async def test_hostile_samples_and_names_get_field_errors_not_tracebacks(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    csrf = csrf_of(await web.get(f"/mapping/{LINE}"))
    hx = {"HX-Request": "true"}
    for pasted, problem in (
        ("[1, 2]", "a JSON object is needed"),
        ("{not json", "sample_json: not JSON"),
        ('{"a": ' * 3000 + "1" + "}" * 3000, "sample_json: nested too deeply"),
    ):
        form = {"csrf": csrf, "base": "1", "sample_json": pasted}
        answer = await web.post(f"/mapping/{LINE}/preview", data=form, headers=hx)
        assert answer.status_code == 200 and problem in answer.text, answer.text[:300]
    odd = {"csrf": csrf, "base": "1", "new.name": "x'; drop", "new.expr": "'1'"}
    answer = await web.post(f"/mapping/{LINE}/preview", data=odd, headers=hx)
    assert "new.name: &#34;x&#39;; drop&#34; is not a field name" in answer.text, answer.text[:500]
    script = {"csrf": csrf, "base": "1", "expr.PaymentNotes": "'<script>alert(1)</script>'"}
    answer = await web.post(f"/mapping/{LINE}/preview", data=script, headers=hx)
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


@pytest.mark.anyio
async def test_without_insight_there_is_no_suggest_button_and_the_route_says_why(
    world: World,
) -> None:
    web = await signed_in(world, "vera", "viewer")
    page = await web.get(f"/mapping/{LINE}")
    assert 'data-testid="suggest"' not in page.text
    said = await web.post(
        f"/mapping/{LINE}/suggest", data={"csrf": csrf_of(page), "base": "1"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert said.status_code == 200 and "insight.enabled: true" in said.text
