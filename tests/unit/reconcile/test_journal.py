"""Settlement journal planning: brands from BINs, accounts per brand, lines that balance to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.errors import ConfigError, DataError
from paybridge.mapping import CompiledTemplate, compile_text, load_templates
from paybridge.reconcile import (
    BrandAccounts,
    CompanyReconcileSettings,
    ReconcileSettings,
    card_brand,
    imbalance,
    plan_settlement,
)
from paybridge.reconcile.columns import Codes, PayTraceColumns
from paybridge.reconcile.journal import LINE_TEMPLATE, brand_nets


@pytest.fixture(scope="module")
def template() -> CompiledTemplate:
    return load_templates().get(LINE_TEMPLATE)


@pytest.mark.parametrize(
    ("masked", "brand"),
    [
        ("401200******5439", "visa"),
        ("545454******5454", "mastercard"),
        ("222100******0000", "mastercard"),
        ("371449*****8431", "amex"),
        ("601100******0004", "discover"),
        ("353011******0000", "jcb"),
        ("305693****5904", "diners"),
        ("************5439", "other"),
        ("xxxxxxxxxxxx5439", "other"),
        ("", "other"),
    ],
)
def test_the_brand_comes_from_the_visible_bin(masked: str, brand: str) -> None:
    assert card_brand(masked) == brand


def settings() -> CompanyReconcileSettings:
    return CompanyReconcileSettings(
        bank_account="USMF-OPER",
        clearing_account="110180",
        brands={
            "amex": BrandAccounts(bank_account="AMEX-BANK", clearing_account="110185"),
            "mastercard": BrandAccounts(clearing_account="110180"),
        },
    )


def test_brands_sharing_accounts_share_a_line_and_the_journal_balances(
    template: CompiledTemplate,
) -> None:
    nets = {"visa": 10_001, "mastercard": 2_000, "amex": -500}
    plan = plan_settlement(
        "usmf", settings(), 42, date(2026, 3, 10), "USD", nets, "PayBridge settlement batch {batch}"
    )
    assert plan.description == "PayBridge settlement batch 42" and plan.net == Decimal("115.01")
    bodies = plan.bodies("USMF-000777", template)
    assert [
        (
            b["AccountDisplayValue"],
            b["OffsetAccountDisplayValue"],
            b["DebitAmount"],
            b["CreditAmount"],
        )
        for b in bodies
    ] == [
        ("AMEX\\-BANK", "110185", Decimal(0), Decimal("5.00")),
        ("USMF\\-OPER", "110180", Decimal("120.01"), Decimal(0)),
    ]
    assert all(
        b["PaymentReference"] == "42" and b["TransDate"] == "2026-03-10T12:00:00Z" for b in bodies
    )
    assert [b["LineNumber"] for b in bodies] == [Decimal(1), Decimal(2)]
    assert bodies[1]["Text"] == "PayTrace batch 42 mastercard/visa"
    assert imbalance(bodies) == 0
    assert bodies[0] == {  # what reconcile wrote by hand before the template was its path
        "dataAreaId": "usmf", "JournalBatchNumber": "USMF-000777", "LineNumber": Decimal(1),
        "TransDate": "2026-03-10T12:00:00Z", "AccountType": "Bank",
        "AccountDisplayValue": "AMEX\\-BANK", "OffsetAccountType": "Ledger",
        "OffsetAccountDisplayValue": "110185", "CurrencyCode": "USD",
        "DebitAmount": Decimal(0), "CreditAmount": Decimal("5.00"),
        "Text": "PayTrace batch 42 amex", "PaymentReference": "42",
    }  # fmt: skip
    assert [repr(b["DebitAmount"]) for b in bodies] == ["Decimal('0')", "Decimal('120.01')"]


def test_a_field_added_to_the_template_reaches_the_body_and_a_bad_one_is_a_data_error(
    template: CompiledTemplate,
) -> None:
    text = Path(template.file).read_text(encoding="utf-8").replace("version: 2", "version: 3")
    custom, problems = compile_text(text + "  xyzSettlementBrands: text\n", "custom.yaml")
    assert custom is not None, problems
    plan = plan_settlement(
        "usmf", settings(), 42, date(2026, 3, 10), "USD", {"visa": 100}, "PayBridge {batch}"
    )
    (body,) = plan.bodies("J", custom)
    assert body["xyzSettlementBrands"] == "PayTrace batch 42 visa"
    broken, _ = compile_text(text + "  xyzMissing: no_such_field\n", "broken.yaml")
    assert broken is not None
    with pytest.raises(DataError) as caught:
        plan.bodies("J", broken)
    assert "xyzMissing" in caught.value.fields


def test_an_unbalanced_journal_is_seen() -> None:
    lines: list[dict[str, object]] = [
        {"DebitAmount": Decimal("10.00"), "CreditAmount": Decimal(0)},
        {"DebitAmount": Decimal(0), "CreditAmount": Decimal("9.99")},
        {"DebitAmount": Decimal("3"), "OffsetAccountDisplayValue": "110180"},
    ]
    assert imbalance(lines) == Decimal("0.01")


def test_a_zero_brand_moves_nothing(template: CompiledTemplate) -> None:
    plan = plan_settlement(
        "usmf", settings(), 1, date(2026, 3, 10), "USD", {"visa": 0}, "b {batch}"
    )
    assert plan.bodies("J", template) == []


def test_brand_nets_are_sales_minus_refunds_per_batch() -> None:
    pt = PayTraceColumns(Codes())
    pt.add(1, "sale", Decimal("10.00"), "USD", "C", "", 1, "visa")
    pt.add(2, "refund", Decimal("2.50"), "USD", "C", "", 1, "visa")
    pt.add(3, "capture", Decimal("4.00"), "USD", "C", "", 1, "amex")
    pt.add(4, "sale", Decimal("1.00"), "USD", "C", "", 2, "visa")
    assert brand_nets(pt) == {1: {"visa": 750, "amex": 400}, 2: {"visa": 100}}


def test_settings_refuse_unknown_brands_and_a_description_without_the_batch() -> None:
    with pytest.raises(ValueError, match="unknown card brands"):
        CompanyReconcileSettings(brands={"maestro": BrandAccounts()})
    with pytest.raises(ValueError, match="must contain"):
        ReconcileSettings(journal_description="PayBridge settlement")
    with pytest.raises(ConfigError, match="no entry for company"):
        ReconcileSettings().company("usrt")
    assert ReconcileSettings().company("USMF").accounts("amex") == ("USMF OPER", "110180")


def test_the_morning_run_writes_settlement_journals_only_when_asked() -> None:
    import asyncio
    from dataclasses import dataclass

    from paybridge.reconcile.morning import MorningReconciliation

    @dataclass
    class Outcome:
        exit_code: int = 0

    class Recording:
        """Stands in for the Reconciler: records what each run was asked to do."""

        def __init__(self) -> None:
            self.asked: list[tuple[str, bool, bool]] = []

        async def run(self, day: date, company: str, *, heal: bool, journal: bool) -> Outcome:
            self.asked.append((company, heal, journal))
            return Outcome()

    def asked_of(settings: ReconcileSettings) -> list[tuple[str, bool, bool]]:
        recording = Recording()
        job = MorningReconciliation(lambda _: recording, settings)  # type: ignore[arg-type,return-value]
        assert asyncio.run(job.run(date(2026, 3, 11))) == "usmf 2026-03-10: exit 0"
        return recording.asked

    assert asked_of(ReconcileSettings()) == [("usmf", False, False)]
    assert asked_of(ReconcileSettings(journal_on_schedule=True)) == [("usmf", False, True)]
    healing = ReconcileSettings(heal_on_schedule=True)
    assert asked_of(healing) == [("usmf", True, False)]
