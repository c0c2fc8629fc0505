"""Transaction exports (every filter) and settlement batches through PayTraceClient."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from paybridge.connectors.paytrace import (
    CustomerSaleRequest,
    ExportByDateRangeRequest,
    KeyedRefundRequest,
    KeyedSaleRequest,
    VoidRequest,
)
from paybridge.errors import DataError, DeclinedError
from tests.integration.paytrace.test_client_sandbox_cards import (
    START,
    VISA,
    Rig,
    add_customer,
    open_rig,
)

pytestmark = pytest.mark.anyio
DAY = 86400
JAN5, JAN6 = date(2026, 1, 5), date(2026, 1, 6)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with open_rig() as opened:
        yield opened


async def ids(rig: Rig, first: date = JAN5, last: date = JAN5, **filters: object) -> list[int]:
    request = ExportByDateRangeRequest.model_validate(
        {"start_date": first, "end_date": last, **filters}
    )
    return [r.transaction_id for r in await rig.client.export_by_date_range(request)]


async def keyed_sale(rig: Rig, amount: str, **options: str) -> int:
    reply = await rig.client.sale_keyed(
        KeyedSaleRequest(amount=amount, credit_card=VISA, **options)
    )
    return reply.transaction_id


async def test_date_range_filters(rig: Rig) -> None:
    await add_customer(rig, "C1")
    vaulted = await rig.client.sale_by_customer(
        CustomerSaleRequest(customer_id="C1", amount="10", invoice_id="INV-A", description="Blue")
    )
    s1 = vaulted.transaction_id
    a1 = (
        await rig.client.authorize_keyed(KeyedSaleRequest(amount="5", credit_card=VISA))
    ).transaction_id
    r1 = (
        await rig.client.refund_keyed(KeyedRefundRequest(amount="2", credit_card=VISA))
    ).transaction_id
    with pytest.raises(DeclinedError) as declined:
        await keyed_sale(rig, "1.12")
    d1 = int(declined.value.transaction_id or 0)
    v1 = await keyed_sale(rig, "3")
    await rig.client.void(VoidRequest(transaction_id=v1))
    assert await ids(rig) == [s1, a1, r1, d1, v1]
    assert await ids(rig, transaction_type="SALE") == [s1, d1, v1]
    assert await ids(rig, transaction_type="AUTHORIZATION") == [a1]
    assert await ids(rig, transaction_type="REFUND") == [r1]
    assert await ids(rig, transaction_type="VOID") == [v1]
    assert await ids(rig, transaction_type="DECLINED") == [d1]
    assert await ids(rig, transaction_type="PENDING") == [s1, r1]
    assert await ids(rig, transaction_type="SETTLED") == []
    assert await ids(rig, transaction_type="STR/FWD") == []
    assert await ids(rig, customer_id="C1") == [s1]
    assert await ids(rig, transaction_id=a1) == [a1]
    assert await ids(rig, including_text="blue") == [s1]
    assert await ids(rig, first=JAN6, last=JAN6) == []
    [with_bin] = await rig.client.export_by_date_range(
        ExportByDateRangeRequest(
            start_date=JAN5, end_date=JAN5, transaction_id=s1, include_bin=True
        )
    )
    assert with_bin.credit_card is not None
    assert with_bin.credit_card.masked_number == "401200******5439"


async def test_days_are_merchant_local_and_settled_filter_follows_the_night(rig: Rig) -> None:
    first = await keyed_sale(rig, "4", invoice_id="DAY-1")
    await rig.advance(DAY)  # crosses 20:00 in Los Angeles: the nightly batch closes
    second = await keyed_sale(rig, "6")
    assert await ids(rig, first=JAN6, last=JAN6) == [second]
    assert await ids(rig, first=JAN5, last=JAN6, transaction_type="SETTLED") == [first]
    [record] = await rig.client.find_transactions("DAY-1", START)
    assert (record.transaction_id, record.status_code, record.settled) == (
        first,
        "GB1",
        "1/5/2026 8:00:00 PM",
    )
    assert record.settled_at_utc() == datetime(2026, 1, 6, 4, 0, tzinfo=UTC)
    # 23:30 in Los Angeles is already Jan 7 in UTC, but the export files it under Jan 6.
    await rig.advance(14.5 * 3600)
    late = await keyed_sale(rig, "8")
    assert rig.clock.now().date() == date(2026, 1, 7)
    assert await ids(rig, first=JAN6, last=JAN6) == [second, late]


async def test_find_transactions_matches_invoice_or_description_exactly(rig: Rig) -> None:
    by_invoice = await keyed_sale(rig, "1", invoice_id="PB-7")
    by_description = await keyed_sale(rig, "2", description="PB-7")
    await keyed_sale(rig, "3", invoice_id="PB-77")  # contains the text, is not the reference
    found = await rig.client.find_transactions("PB-7", START - timedelta(hours=1))
    assert [r.transaction_id for r in found] == [by_invoice, by_description]
    assert await rig.client.find_transactions("PB-8", START) == []


async def test_batches_export_one_and_transaction_list(rig: Rig) -> None:
    sale = await keyed_sale(rig, "10")
    refund = (
        await rig.client.refund_keyed(KeyedRefundRequest(amount="4", credit_card=VISA))
    ).transaction_id
    await rig.client.settle()
    await rig.advance(DAY)  # nothing pending, so the nightly close makes no batch
    later = await keyed_sale(rig, "7")
    await rig.client.settle()
    batches = await rig.client.export_batches(JAN5, JAN6)
    assert [(b.number, b.transaction_count, b.net_amount) for b in batches] == [
        (1, 2, Decimal("6.00")),
        (2, 1, Decimal("7.00")),
    ]
    assert batches[0].settled_at_utc() == START
    assert batches[1].settled_at_utc() == START + timedelta(days=1)
    assert [b.number for b in await rig.client.export_batches(JAN6, JAN6)] == [2]
    latest = await rig.client.export_batch()
    assert latest is not None and latest.number == 2
    first = await rig.client.export_batch(1)
    assert first is not None and first.model_extra is not None
    assert (first.model_extra["sales_amount"], first.model_extra["refund_amount"]) == (10, 4)
    listed = await rig.client.batch_transactions(1)
    assert [(r.transaction_id, r.status_code) for r in listed] == [(sale, "GB1"), (refund, "GB1")]
    assert [r.transaction_id for r in await rig.client.batch_transactions(2)] == [later]


async def test_nightly_settlement_makes_a_batch(rig: Rig) -> None:
    sale = await keyed_sale(rig, "12.34")
    await rig.advance(12 * 3600)
    batch = await rig.client.export_batch()
    assert batch is not None
    assert (batch.number, batch.when) == (1, "1/5/2026 8:00:00 PM")
    assert batch.net_amount == Decimal("12.34")
    assert [r.transaction_id for r in await rig.client.batch_transactions(1)] == [sale]


async def test_unknown_batches_are_refused(rig: Rig) -> None:
    with pytest.raises(DataError) as none_yet:
        await rig.client.export_batch()
    await keyed_sale(rig, "1")
    await rig.client.settle()
    with pytest.raises(DataError) as unknown:
        await rig.client.export_batch(99)
    with pytest.raises(DataError) as unknown_list:
        await rig.client.batch_transactions(99)
    assert all(set(e.value.fields) == {"51"} for e in (none_yet, unknown, unknown_list))
    assert await rig.client.export_batches(JAN6, JAN6) == []
