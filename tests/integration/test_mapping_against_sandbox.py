"""Every shipped D365 template agrees with the D365 sandbox's $metadata; a foreign field does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paybridge.app.schema import metadata_schemas
from paybridge.mapping import check_templates, compile_text, load_templates
from paybridge_sandbox.dynamics import create_app
from tests.conftest import asgi_client

BIN = Path(sys.executable).parent


async def sandbox_metadata() -> bytes:
    app = create_app()
    async with asgi_client(app, "https://usmf.sandbox.operations.dynamics.com") as http:
        token = await http.post(
            "/sandbox-tenant/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
                "scope": "https://usmf.sandbox.operations.dynamics.com/.default",
            },
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        reply = await http.get("/data/$metadata", headers=headers)
        assert reply.status_code == 200
        return reply.content


CUSTOM = """
name: payment_with_custom_field
version: 1
source: canonical.Transaction
target: d365.CustomerPaymentJournalLines
operation: create
fields:
  dataAreaId: "'usmf'"
  JournalBatchNumber: "'X'"
  AccountType: "'Cust'"
  AccountDisplayValue: customer_id
  CurrencyCode: amount.currency
  PaymentReference: transaction_id
  xyzPayTraceChannel: description
"""


@pytest.mark.anyio
async def test_shipped_templates_agree_with_the_sandbox_metadata() -> None:
    schema = metadata_schemas(await sandbox_metadata())
    problems = check_templates(list(load_templates()), schema)
    assert problems == []


@pytest.mark.anyio
async def test_a_custom_field_the_sandbox_lacks_fails_the_check_clearly() -> None:
    schema = metadata_schemas(await sandbox_metadata())
    template, load_problems = compile_text(CUSTOM, "custom.yaml")
    assert template is not None, load_problems
    (problem,) = check_templates([template], schema)
    text = str(problem)
    assert "xyzPayTraceChannel" in text and "CustomerPaymentJournalLines" in text
    assert "custom.yaml" in text


def test_preview_through_the_cli(tmp_path: Path) -> None:
    sample = tmp_path / "sale.json"
    sample.write_text(
        json.dumps(
            {
                "transaction_id": "125391271",
                "kind": "sale",
                "status": "approved",
                "amount": {"amount": "125.40", "currency": "USD"},
                "occurred_at": "2026-03-10T18:00:00Z",
                "customer_id": "SHOP-1",
                "invoice_id": None,
                "masked_card": "xxxxxxxxxxxx5439",
            }
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(BIN / "paybridge"), "mapping", "preview", "payment_to_customer_payment_line",
         "--input", str(sample), "--context", "company=usmf", "--context", "journal_batch_number=J1",
         "--context", "customer_account=US-001", "--context", "bank_account=USMF OPER", "--explain"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"CreditAmount": 125.40' in result.stdout or "125.40" in result.stdout
    assert "PT-125391271-sale" in result.stdout
    bad = subprocess.run(
        [str(BIN / "paybridge"), "mapping", "preview", "no_such_template", "--input", str(sample)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "no_such_template" in bad.stderr


@pytest.mark.anyio
async def test_check_through_the_cli_reads_metadata_with_the_connectors_parser(
    tmp_path: Path,
) -> None:
    document = tmp_path / "metadata.xml"
    document.write_bytes(await sandbox_metadata())
    result = subprocess.run(
        [str(BIN / "paybridge"), "mapping", "check", "--metadata", str(document)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "D365 template(s) agree with the metadata" in result.stdout
    document.write_text("<not metadata", encoding="utf-8")
    bad = subprocess.run(
        [str(BIN / "paybridge"), "mapping", "check", "--metadata", str(document)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "not a D365 $metadata document" in bad.stderr + bad.stdout
