"""Every registry function, called the way templates call them (through compiled expressions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.mapping import (
    CachingEnricher,
    MappingValueError,
    compile_text,
    default_registry,
    fn_money,
    fn_text,
    fn_time,
)
from paybridge.mapping.compiler import ExpressionCompiler
from paybridge.mapping.functions import Scope


def run(expression: str, data: Any = None, context: dict[str, Any] | None = None) -> Any:
    registry = default_registry()
    compiled, problems = ExpressionCompiler(registry, registry.tables).compile(expression)
    assert compiled is not None, problems
    return compiled.evaluate(data or {}, Scope(context or {}, None, registry.tables, registry))


# -- dates and times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4/10/2015 4:06:30 PM", "2015-04-10T23:06:30Z"),  # PDT, UTC-7
        ("1/5/2026 9:00:00 AM", "2026-01-05T17:00:00Z"),  # PST, UTC-8
        ("3/8/2026 1:59:59 AM", "2026-03-08T09:59:59Z"),  # last second of PST
        ("3/8/2026 3:00:00 AM", "2026-03-08T10:00:00Z"),  # first second of PDT
        ("11/1/2026 1:30:00 AM", "2026-11-01T08:30:00Z"),  # ambiguous hour: the earlier (PDT)
        ("12/31/2025 12:00:00 AM", "2025-12-31T08:00:00Z"),  # midnight is 12 AM
        ("7/4/2026 12:15:00 PM", "2026-07-04T19:15:00Z"),  # noon is 12 PM
    ],
)
def test_paytrace_datetime_reads_pacific_local_time_across_dst(text: str, expected: str) -> None:
    assert fn_time.paytrace_datetime(text) == expected


def test_paytrace_datetime_other_zone_empty_and_garbage() -> None:
    assert (
        fn_time.paytrace_datetime("4/10/2015 4:06:30 PM", "America/New_York")
        == "2015-04-10T20:06:30Z"
    )
    assert fn_time.paytrace_datetime("") is None
    assert fn_time.paytrace_datetime(None) is None
    with pytest.raises(MappingValueError, match="not a PayTrace date-time"):
        fn_time.paytrace_datetime("2015-04-10 16:06")
    with pytest.raises(MappingValueError, match="unknown time zone"):
        fn_time.paytrace_datetime("4/10/2015 4:06:30 PM", "Mars/Olympus")


@pytest.mark.parametrize(
    "text",
    [
        "4/10/2015 4:06:30 PM",
        "04/10/2015  4:06:30 pm",
        "4/10/2015 4:06 PM",
        "4/10/2015 16:06:30",
        "4/10/2015",
        "2/29/2028 12:00:00 AM",
        "11/1/2026 1:30:00 AM",
    ],
)
def test_paytrace_datetime_reads_what_the_connector_reads(text: str) -> None:
    # The export template and the poller must agree on every date PayTrace may print.
    from paybridge.connectors.paytrace.responses import parse_merchant_time

    expected = parse_merchant_time(text).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fn_time.paytrace_datetime(text) == expected


@pytest.mark.parametrize(
    "text", ["2/30/2026 1:00:00 AM", "13/1/2026 1:00:00 AM", "1/1/2026 0:10:00 AM"]
)
def test_paytrace_datetime_refuses_impossible_dates(text: str) -> None:
    with pytest.raises(MappingValueError, match="not a PayTrace date-time"):
        fn_time.paytrace_datetime(text)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2015-04-10T23:06:30Z", "4/10/2015 4:06:30 PM"),
        ("2026-03-08T09:59:59Z", "3/8/2026 1:59:59 AM"),
        ("2026-03-08T10:00:00Z", "3/8/2026 3:00:00 AM"),
        ("2026-11-01T09:30:00Z", "11/1/2026 1:30:00 AM"),  # the second 1:30 (PST)
        ("2026-01-01T08:00:00+00:00", "1/1/2026 12:00:00 AM"),
    ],
)
def test_to_paytrace_datetime_is_the_inverse(instant: str, expected: str) -> None:
    assert fn_time.to_paytrace_datetime(instant) == expected


def test_round_trip_paytrace_datetime() -> None:
    for text in ("4/10/2015 4:06:30 PM", "3/8/2026 3:00:00 AM", "12/31/2025 11:59:59 PM"):
        assert fn_time.to_paytrace_datetime(fn_time.paytrace_datetime(text)) == text


def test_paytrace_date_for_requests() -> None:
    assert fn_time.paytrace_date("2026-03-08T07:59:00Z") == "03/07/2026"  # still the 7th in LA
    assert fn_time.paytrace_date("2026-03-08") == "03/08/2026"
    assert fn_time.paytrace_date(None) is None


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        ("2026-03-08T06:30:00Z", "UTC", "2026-03-08T12:00:00Z"),
        ("2026-03-08T06:30:00Z", "America/Los_Angeles", "2026-03-07T12:00:00Z"),
        ("2026-07-15T23:30:00-07:00", "UTC", "2026-07-16T12:00:00Z"),
        ("2026-07-15T23:30:00Z", "Asia/Tokyo", "2026-07-16T12:00:00Z"),
        ("2026-11-01T08:30:00Z", "America/Los_Angeles", "2026-11-01T12:00:00Z"),
        ("2026-07-15", "Asia/Tokyo", "2026-07-15T12:00:00Z"),
    ],
)
def test_d365_date_takes_the_local_calendar_date(instant: str, zone: str, expected: str) -> None:
    assert fn_time.d365_date(instant, zone) == expected
    assert run("d365_date(t, ctx('tz'))", {"t": instant}, {"tz": zone}) == expected


def test_d365_date_refuses_naive_and_defaults_to_utc() -> None:
    assert fn_time.d365_date("2026-03-08T23:30:00Z") == "2026-03-08T12:00:00Z"
    with pytest.raises(MappingValueError, match="no time zone"):
        fn_time.d365_date("2026-03-08T23:30:00")
    with pytest.raises(MappingValueError, match="expected an ISO 8601"):
        fn_time.d365_date(12)


def test_from_d365_date_and_datetimes() -> None:
    assert fn_time.from_d365_date("2026-07-15T12:00:00Z") == "2026-07-15"
    assert fn_time.from_d365_date("1900-01-01T12:00:00Z") is None  # D365's empty date
    assert fn_time.from_d365_date("") is None
    with pytest.raises(MappingValueError):
        fn_time.from_d365_date("July 15")
    assert fn_time.d365_datetime("2026-07-30T10:58:53.123+02:00") == "2026-07-30T08:58:53Z"
    assert fn_time.iso_utc("2026-07-30T01:00:00-07:00") == "2026-07-30T08:00:00Z"


# -- money --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.345", "USD", "12.34"),  # banker's rounding: half to even
        ("12.355", "USD", "12.36"),
        ("1234.5", "JPY", "1234"),
        ("1235.5", "JPY", "1236"),
        ("1.23456", "KWD", "1.235"),
        ("7", "KWD", "7.000"),
        (10, "eur", "10.00"),
        ("-3.005", "USD", "-3.00"),
    ],
)
def test_round_money_by_currency_exponent(amount: Any, currency: str, expected: str) -> None:
    result = fn_money.round_money(amount, currency)
    assert isinstance(result, Decimal)
    assert str(result) == expected
    assert fn_money.money_string(amount, currency) == expected


def test_money_refuses_floats_and_junk() -> None:
    with pytest.raises(MappingValueError, match="never float"):
        fn_money.round_money(1.5, "USD")
    with pytest.raises(MappingValueError, match="not an amount"):
        fn_money.decimal("12,30")
    with pytest.raises(MappingValueError, match="currency"):
        fn_money.round_money("1", "US")
    with pytest.raises(MappingValueError, match="finite"):
        fn_money.decimal("NaN")
    assert fn_money.round_money(None, "USD") is None


def test_money_arithmetic_helpers() -> None:
    assert fn_money.negate("2.50") == Decimal("-2.50")
    assert fn_money.abs_amount("-2.50") == Decimal("2.50")
    assert fn_money.is_negative("-0.01") is True
    assert fn_money.is_negative("0") is False
    assert fn_money.add("1.10", "2.20") == Decimal("3.30")
    assert fn_money.subtract("1.10", 2) == Decimal("-0.90")
    assert fn_money.exponent("JPY") == 0
    assert run("decimal(`1.5`)") == Decimal("1.5")  # JSON literals are Decimal, not float


# -- text, names, addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "middle", "last"),
    [
        ("Steve Smith", "Steve", "", "Smith"),
        ("  Mary   Ann  Smith ", "Mary", "Ann", "Smith"),
        ("Dr. Mary Ann Smith Jr.", "Mary", "Ann", "Smith Jr."),
        ("Smith, Mary Ann", "Mary", "Ann", "Smith"),
        ("Cher", "Cher", "", ""),
        ("", "", "", ""),
    ],
)
def test_split_name(name: str, first: str, middle: str, last: str) -> None:
    assert fn_text.split_name(name) == {"first": first, "middle": middle, "last": last}
    assert run("split_name(n).last", {"n": name}) == last


def test_concat_and_join() -> None:
    assert run("concat('a', x, `null`, `7`, y)", {"x": "-", "y": Decimal("1.50")}) == "a-71.50"
    assert fn_text.join_nonempty(" ", " Mary ", None, "", "Smith", 0) == "Mary Smith 0"
    assert fn_text.join_lines("8320 E. West St.", "", "Suite 4") == "8320 E. West St.\nSuite 4"
    with pytest.raises(MappingValueError, match="cannot turn dict"):
        fn_text.concat({"a": 1})


def test_lines_split_and_truncate() -> None:
    street = "8320 E. West St.\r\nSuite 4\n"
    assert fn_text.line(street, 0) == "8320 E. West St."
    assert fn_text.line(street, 1) == "Suite 4"
    assert fn_text.line(street, 2) is None
    assert run("line(s, `1`)", {"s": street}) == "Suite 4"
    assert fn_text.split("a, b ,c", ",") == ["a", "b", "c"]
    assert fn_text.truncate("PO-123456789012345678", 17) == "PO-12345678901234"
    with pytest.raises(MappingValueError):
        fn_text.truncate("x", -1)
    with pytest.raises(MappingValueError):
        fn_text.line("x", "0")


def test_small_text_functions() -> None:
    assert fn_text.upper("usd") == "USD"
    assert fn_text.lower("USMF") == "usmf"
    assert fn_text.trim("  x ") == "x"
    assert fn_text.replace("GB571", "GB", "") == "571"
    assert fn_text.alnum("PO #4411-A") == "PO4411A"
    assert fn_text.text(True) == "true"
    assert fn_text.text(Decimal("1E+2")) == "100"


def test_d365_segment_escaping() -> None:
    assert fn_text.escape_segment("DAT-000011") == "DAT\\-000011"
    assert fn_text.escape_segment("DAT\\-000011") == "DAT\\-000011"  # already escaped
    assert fn_text.escape_segment("A-B\\-C") == "A\\-B\\-C"
    assert fn_text.escape_segment("USMF OPER") == "USMF OPER"
    assert fn_text.unescape_segment("RFI\\-OPER") == "RFI-OPER"


def test_paytrace_batch_reads_gb_status_codes() -> None:
    assert run("paytrace_batch(status_code)", {"status_code": "GB571"}) == "571"
    assert fn_text.paytrace_batch(" gb12 ") == "12"
    for other in ("Y", "N", "GB", "GBX1", "", None):
        assert fn_text.paytrace_batch(other) is None


def test_masks_and_countries() -> None:
    assert fn_text.short_mask("xxxxxxxxxxxx5439") == "xxxx5439"
    assert fn_text.short_mask("401200******5439") == "xxxx5439"
    assert fn_text.short_mask("************") is None
    assert fn_text.country_alpha3("us") == "USA"
    assert fn_text.country_alpha2("DEU") == "DE"
    assert fn_text.country_alpha2("") is None
    with pytest.raises(MappingValueError, match="not in the country table"):
        fn_text.country_alpha3("XX")
    with pytest.raises(MappingValueError, match="alpha-3"):
        fn_text.country_alpha2("US")


# -- lookups, conditions, context ---------------------------------------------------------------


def test_lookup_tables() -> None:
    assert run("lookup('payment_journal_side', k)", {"k": "refund"}) == "debit"
    assert run("lookup('transaction_kind_to_journal', 'settlement')") == "general"
    assert run("lookup('paytrace_status_to_d365_payment_status', 'authorized')") == "Authorized"
    assert run("lookup('paytrace_transaction_type_to_kind', 'STR/FWD')") == "sale"
    assert run("lookup('paytrace_response_code_message', c)", {"c": 102}).startswith(
        "Your transaction was not approved"
    )
    assert run("lookup('paytrace_response_code_message', `817`, 'unknown code')") == "unknown code"
    assert run("lookup('payment_journal_side', k)", {}) is None
    with pytest.raises(MappingValueError, match="'decline' is not in table 'payment_journal_side'"):
        run("lookup('payment_journal_side', 'decline')")


def test_response_code_table_covers_the_spec_codes() -> None:
    table = default_registry().tables["paytrace_response_code_message"]
    for code in (1, 101, 102, 103, 106, 109, 112, 120, 122, 124, 125, 149, 160, 170):
        assert str(code) in table


def test_conditions_coalesce_default() -> None:
    assert run("if(a, 'yes', 'no')", {"a": 0}) == "yes"  # 0 is true in JMESPath
    assert run("if(a, 'yes', 'no')", {"a": ""}) == "no"
    assert run("if(a, 'yes')", {"a": []}) is None
    assert run("if(`true`, 'ok', fail('never evaluated'))") == "ok"  # lazy branches
    assert run("coalesce(a, b, 'c')", {"b": ""}) == ""  # first non-null, "" counts
    assert run("coalesce(a, b)", {}) is None
    assert run("default(a, 'x')", {"a": ""}) == "x"
    assert run("default(a, 'x')", {"a": "y"}) == "y"
    assert run("expect(c, ['USD', 'CAD'])", {"c": "USD"}) == "USD"
    with pytest.raises(MappingValueError, match="not one of"):
        run("expect(c, ['USD'])", {"c": "EUR"})
    with pytest.raises(MappingValueError, match="stop here"):
        run("fail('stop here')")


def test_ctx_reads_the_context() -> None:
    assert run("ctx('company')", context={"company": "usmf"}) == "usmf"
    assert run("ctx('missing')") is None


def test_jmespath_semantics_kept() -> None:
    data = {"a": {"b": [1, 2, 3]}, "n": 0, "t": True, "s": "x"}
    assert run("a.b[1]", data) == 2
    assert run("a.b[-1]", data) == 3
    assert run("a.b[5]", data) is None
    assert run("n == `0`", data) is True
    assert run("t == `1`", data) is False  # true is not 1
    assert run("!n", data) is False
    assert run("s < `1`", data) is None
    assert run("{x: s, y: n}", data) == {"x": "x", "y": 0}
    assert run("[s, n]", data) == ["x", 0]
    assert run("a.b[?@ > `1`]", data) == [2, 3]  # projections run on jmespath's interpreter
    assert run("a.b[*] | length(@)", data) == 3
    assert run("length(s)", data) == 1


# -- enrichment ---------------------------------------------------------------------------------


class CountingEnricher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.data: dict[tuple[str, str], dict[str, Any]] = {
            ("customer_by_account", "US-001"): {"CustomerAccount": "US-001", "Name": "A"}
        }

    def lookup(self, kind: str, key: str) -> dict[str, Any] | None:
        self.calls.append((kind, key))
        return self.data.get((kind, key))


def test_enrich_through_a_bounded_cache() -> None:
    inner = CountingEnricher()
    cache = CachingEnricher(inner, maxsize=2)
    template, problems = compile_text(
        "name: t\nversion: 1\nsource: d365.X\ntarget: d365.Y\n"
        "fields:\n  Name: enrich('customer_by_account', acct).Name\n"
    )
    assert template is not None, problems
    for _ in range(3):
        assert template.apply({"acct": "US-001"}, enricher=cache).record == {"Name": "A"}
    assert inner.calls == [("customer_by_account", "US-001")]
    assert (cache.hits, cache.misses) == (2, 1)
    missing = template.apply({"acct": "NOPE"}, context={"enricher": cache})
    assert "no value" in missing.errors["Name"]
    template.apply({"acct": "NOPE"}, enricher=cache)
    assert inner.calls.count(("customer_by_account", "NOPE")) == 2  # misses are not cached
    cache.invalidate()
    assert len(cache) == 0


def test_caching_enricher_evicts_least_recent_and_can_cache_misses() -> None:
    inner = CountingEnricher()
    inner.data.update({("k", str(i)): {"i": i} for i in range(3)})
    cache = CachingEnricher(inner, maxsize=2, cache_misses=True)
    cache.lookup("k", "0")
    cache.lookup("k", "1")
    cache.lookup("k", "0")
    cache.lookup("k", "2")  # evicts "1"
    cache.lookup("k", "1")
    assert inner.calls.count(("k", "1")) == 2
    assert inner.calls.count(("k", "0")) == 1
    cache.lookup("k", "none")
    cache.lookup("k", "none")
    assert inner.calls.count(("k", "none")) == 1
    cache.invalidate("k", "none")
    assert ("k", "none") not in cache._entries
    with pytest.raises(ValueError, match="maxsize"):
        CachingEnricher(inner, maxsize=0)


def test_enrich_without_an_enricher_is_a_field_error() -> None:
    with pytest.raises(MappingValueError, match="needs an enricher"):
        run("enrich('customer_by_account', 'US-001')")
    assert run("enrich('customer_by_account', `null`)") is None
