"""Literal, key, filter and display-value rendering as F&O expects it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from paybridge.connectors.dynamics import (
    EnumValue,
    Expand,
    F,
    Query,
    Raw,
    escape_display_value,
    key_path,
    parse_edm_date,
    parse_edm_datetime,
    render_key,
    render_literal,
    unescape_display_value,
)
from paybridge.connectors.dynamics.query import encode_params


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("usmf", "'usmf'"),
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        (" RFI-TEST-001", "' RFI-TEST-001'"),
        ("Zürich — 東京", "'Zürich — 東京'"),
        ("", "''"),
        (20, "20"),
        (5637145331, "5637145331"),
        (Decimal(1), "1"),
        (Decimal("80.00"), "80.00"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.5"), "-0.5"),
        (True, "true"),
        (None, "null"),
        (date(2026, 7, 23), "2026-07-23T12:00:00Z"),
        (datetime(2026, 7, 30, 8, 58, 53, tzinfo=UTC), "2026-07-30T08:58:53Z"),
        (
            datetime(2026, 7, 30, 10, 58, 53, 120000, tzinfo=timezone(timedelta(hours=2))),
            "2026-07-30T08:58:53.120000Z",
        ),
        (EnumValue("NoYes", "Yes"), "Microsoft.Dynamics.DataEntities.NoYes'Yes'"),
        (UUID(int=0), "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_literals(value: object, expected: str) -> None:
    assert render_literal(value) == expected


@pytest.mark.parametrize("bad", [1.5, datetime(2026, 1, 1), Decimal("NaN"), object()])
def test_unrenderable_values_are_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        render_literal(bad)


def test_render_key_matches_the_brief() -> None:
    assert (
        render_key({"dataAreaId": "usmf", "LineNumber": Decimal(1)})
        == "dataAreaId='usmf',LineNumber=1"
    )


def test_key_path_encodes_spaces_and_keeps_quotes() -> None:
    path = key_path("ReleasedProductsV2", {"dataAreaId": "dat", "ItemNumber": " RFI-TEST-001"})
    assert path == "ReleasedProductsV2(dataAreaId='dat',ItemNumber='%20RFI-TEST-001')"
    tricky = key_path("X", {"A": "a/b#c?d&e%f+g", "D": date(2026, 7, 23)})
    assert tricky == "X(A='a%2Fb%23c%3Fd%26e%25f%2Bg',D=2026-07-23T12:00:00Z)"
    assert key_path(
        "FreeTextInvoiceHeaders", {"dataAreaId": "dat", "InvoiceIdentifier": 5637145331}
    ) == ("FreeTextInvoiceHeaders(dataAreaId='dat',InvoiceIdentifier=5637145331)")


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_key({})


def test_filter_builder() -> None:
    assert (F("PaymentReference") == "123").render() == "PaymentReference eq '123'"
    both = (F("dataAreaId") == "dat") & (F("JournalBatchNumber") == "DAT-000007")
    assert str(both) == "dataAreaId eq 'dat' and JournalBatchNumber eq 'DAT-000007'"
    either = (F("A") == 1) | (F("B") != Decimal("2.50"))
    assert either.render() == "A eq 1 or B ne 2.50"
    mixed = ((F("A") == 1) | (F("B") == 2)) & ~(F("C") >= date(2026, 1, 2))
    assert mixed.render() == "(A eq 1 or B eq 2) and not (C ge 2026-01-02T12:00:00Z)"
    chain = (F("A") < 1) & (F("B") <= 2) & (F("C") > 3)
    assert chain.render() == "A lt 1 and B le 2 and C gt 3"
    assert F("Name").wildcard("*retail*").render() == "Name eq '*retail*'"
    gender = F("PersonGender") == EnumValue("Gender", "Unknown")
    assert gender.render() == "PersonGender eq Microsoft.Dynamics.DataEntities.Gender'Unknown'"
    assert (F("Text") == "it's").render() == "Text eq 'it''s'"


def test_field_names_are_checked() -> None:
    with pytest.raises(ValueError, match="property name"):
        F("A eq 'x' or B")


def test_query_params_and_encoding() -> None:
    query = Query(
        filter=(F("dataAreaId") == "dat") & (F("Text") == "a&b +c"),
        select=["dataAreaId", "JournalBatchNumber"],
        expand=[Expand("SalesOrderLines", select=["InventoryLotId", "ItemNumber"])],
        orderby=["dataAreaId asc", "JournalBatchNumber asc"],
        top=100,
        skip=0,
        count=True,
        cross_company=True,
    )
    encoded = encode_params(query.params())
    assert encoded == (
        "$filter=dataAreaId%20eq%20'dat'%20and%20Text%20eq%20'a%26b%20%2Bc'"
        "&$select=dataAreaId,JournalBatchNumber"
        "&$expand=SalesOrderLines($select=InventoryLotId,ItemNumber)"
        "&$orderby=dataAreaId%20asc,JournalBatchNumber%20asc"
        "&$top=100&$skip=0&$count=true&cross-company=true"
    )
    assert Query(filter=Raw("A eq 1"), top=5).for_count().params() == [("$filter", "A eq 1")]


@pytest.mark.parametrize(
    ("plain", "escaped"),
    [
        ("DAT-000011", "DAT\\-000011"),
        ("RFI-OPER", "RFI\\-OPER"),
        ("100100", "100100"),
        ("a\\b", "a\\\\b"),
    ],
)
def test_display_values_round_trip(plain: str, escaped: str) -> None:
    assert escape_display_value(plain) == escaped
    assert unescape_display_value(escaped) == plain


def test_edm_dates() -> None:
    assert parse_edm_date("2026-07-15T12:00:00Z") == date(2026, 7, 15)
    assert parse_edm_date("1900-01-01T12:00:00Z") is None
    assert parse_edm_date(None) is None
    moment = parse_edm_datetime("2026-07-30T08:58:53Z")
    assert moment == datetime(2026, 7, 30, 8, 58, 53, tzinfo=UTC)
    assert parse_edm_datetime("1900-01-01T00:00:00Z") is None
