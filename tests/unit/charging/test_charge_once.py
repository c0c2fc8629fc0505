"""charge_once: a planned PayTrace charge sent once, a lost reply found, never resent blindly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from paybridge.charging.charge_once import (
    APPROVED,
    DECLINED,
    ChargeOnce,
    carries,
    charge_body,
)
from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import (
    CustomerSaleRequest,
    ExportByDateRangeRequest,
    PayTraceClient,
    TransactionRecord,
    TransactionResponse,
)
from paybridge.errors import DataError, DeclinedError, FatalError, InDoubtError
from paybridge.runtime.intents import DONE, PLANNED, SENT, Intent, IntentStore
from paybridge.store import open_engine

pytestmark = pytest.mark.anyio
START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)
REF = "PayBridge charge k-1"


@dataclass
class FakePayTrace:
    """PayTrace as charge_once sees it: sends, and the export a lost reply is looked up in."""

    clock: ManualClock
    merchant_tz: str = "America/Los_Angeles"
    records: list[TransactionRecord] = field(default_factory=list)
    sent: list[tuple[str, CustomerSaleRequest]] = field(default_factory=list)
    lose_reply: bool = False  # PayTrace charges, the reply is lost
    lose_request: bool = False  # the request never arrives, PayBridge cannot tell
    decline: bool = False
    export_fails: bool = False

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.merchant_tz)).date()

    async def sale_by_customer(self, request: CustomerSaleRequest) -> TransactionResponse:
        return self._charge("SALE", request)

    async def authorize_by_customer(self, request: CustomerSaleRequest) -> TransactionResponse:
        return self._charge("AUTHORIZATION", request)

    def _charge(self, kind: str, request: CustomerSaleRequest) -> TransactionResponse:
        self.sent.append((kind, request))
        if self.lose_request:
            raise InDoubtError("connection reset", reference=request.reference)
        tid = 1000 + len(self.sent)
        self.remember(tid, request.description or "", declined=self.decline, kind=kind)
        if self.decline:
            raise DeclinedError("declined", reason="Do not honor.", transaction_id=str(tid))
        if self.lose_reply:
            raise InDoubtError("read timeout", reference=request.reference)
        return TransactionResponse(
            success=True, response_code=101, transaction_id=tid, approval_code="A1",
            masked_card_number="xxxxxxxxxxxx5439",
        )  # fmt: skip

    def remember(self, tid: int, description: str, *, declined: bool, kind: str = "SALE") -> None:
        local = self.clock.now().astimezone(ZoneInfo(self.merchant_tz))
        self.records.append(
            TransactionRecord.model_validate({
                "transaction_id": tid, "transaction_type": kind, "description": description,
                "status_message": "Declined" if declined else "Pending settlement",
                "approval_code": "" if declined else "A1",
                "approval_message": "    DECLINE - Do not honor" if declined else "Approved",
                "created": {"at": local.strftime("%m/%d/%Y %I:%M:%S %p")},
            })
        )  # fmt: skip

    async def export_by_date_range(
        self, request: ExportByDateRangeRequest
    ) -> list[TransactionRecord]:
        if self.export_fails:
            raise FatalError("export refused")
        text = (request.including_text or "").lower()
        return [r for r in self.records if text in r.description.lower()]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def paytrace(clock: ManualClock) -> FakePayTrace:
    return FakePayTrace(clock)


@pytest.fixture
def intents(store_url: str, clock: ManualClock) -> IntentStore:
    return IntentStore(open_engine(store_url), clock)


def once(
    paytrace: FakePayTrace, intents: IntentStore, *, declines_final: bool = True
) -> ChargeOnce:
    return ChargeOnce(
        cast(PayTraceClient, paytrace), intents, paytrace.clock, currency="usd", grace=GRACE,
        declines_final=declines_final,
    )  # fmt: skip


def plan(charger: ChargeOnce, key: str = "k-1", **detail: Any) -> Intent:
    body = charge_body(
        customer_id="SHOP-1", amount=Decimal("12.30"), reference=f"PayBridge charge {key}",
        mapped={"invoice_id": "CIV-1", "description": "Invoice CIV-1 (usmf)"},
    )  # fmt: skip
    values = {"customer_id": "SHOP-1", "amount": Decimal("12.30"), "currency": "USD", **detail}
    return charger.plan(f"charge:{key}", "paytrace.charge", f"PayBridge charge {key}", body, values)


def fresh(intents: IntentStore, intent: Intent) -> Intent:
    found = intents.get(intent.event_key, intent.step)
    assert found is not None
    return found


async def first_send_in_doubt(charger: ChargeOnce, paytrace: FakePayTrace, lost: str) -> Intent:
    """The first send goes in doubt: the reply is lost, or the request is (PayBridge cannot tell)."""
    setattr(paytrace, lost, True)
    with pytest.raises(InDoubtError):
        await charger.execute(plan(charger), sent_at=START)
    setattr(paytrace, lost, False)
    intent = fresh(charger.intents, plan(charger))
    assert intent.status == SENT and len(paytrace.sent) == 1
    return intent


def sent_long_ago(charger: ChargeOnce, clock: ManualClock) -> Intent:
    """An intent claimed for sending, its grace over (what the export shows is up to the test)."""
    intent = plan(charger)
    assert charger.intents.claim_send(intent)
    clock.advance(GRACE.total_seconds() + 1)
    return fresh(charger.intents, intent)


async def test_a_charge_is_sent_once_and_then_answered_from_the_intent(
    paytrace: FakePayTrace, intents: IntentStore
) -> None:
    charger = once(paytrace, intents)
    first = await charger.execute(plan(charger), sent_at=START)
    again = await charger.execute(plan(charger), sent_at=START)  # the first plan wins
    assert (first.how, first.outcome) == ("sent", APPROVED)
    assert (again.how, again.detail["transaction_id"]) == ("already", "1001")
    ((kind, sent),) = paytrace.sent
    assert kind == "SALE" and sent.amount == Decimal("12.30") and sent.customer_id == "SHOP-1"
    assert sent.description == f"{REF} Invoice CIV-1 (usmf)" and sent.invoice_id == "CIV-1"


async def test_authorization_mode_authorizes(paytrace: FakePayTrace, intents: IntentStore) -> None:
    charger = once(paytrace, intents)
    await charger.execute(plan(charger, mode="authorization"), sent_at=START)
    assert [kind for kind, _ in paytrace.sent] == ["AUTHORIZATION"]


async def test_a_lost_reply_is_found_and_approved_without_a_resend(
    paytrace: FakePayTrace, intents: IntentStore, clock: ManualClock
) -> None:
    charger = once(paytrace, intents)
    intent = await first_send_in_doubt(charger, paytrace, "lose_reply")
    clock.advance(30)
    found = await charger.execute(intent, sent_at=START)
    assert (found.how, found.outcome, found.detail["transaction_id"]) == ("found", APPROVED, "1001")
    assert len(paytrace.sent) == 1
    assert fresh(intents, plan(charger)).status == DONE


async def test_an_absence_within_the_grace_stays_in_doubt(
    paytrace: FakePayTrace, intents: IntentStore, clock: ManualClock
) -> None:
    charger = once(paytrace, intents)
    intent = await first_send_in_doubt(charger, paytrace, "lose_request")
    clock.advance(GRACE.total_seconds() - 1)
    with pytest.raises(InDoubtError, match="no such charge yet"):
        await charger.execute(intent, sent_at=START)
    assert len(paytrace.sent) == 1 and fresh(intents, plan(charger)).status == SENT


async def test_an_absence_after_the_grace_may_be_sent_again(
    paytrace: FakePayTrace, intents: IntentStore, clock: ManualClock
) -> None:
    charger = once(paytrace, intents)
    intent = await first_send_in_doubt(charger, paytrace, "lose_request")
    clock.advance(GRACE.total_seconds() + 1)
    assert await charger.find(intent, sent_at=START) is None
    charged = await charger.execute(intent, sent_at=START)
    assert (charged.how, charged.outcome) == ("sent", APPROVED)
    assert len(paytrace.sent) == 2
    assert paytrace.sent[0][1] == paytrace.sent[1][1]  # the same request, as planned


async def test_a_decline_is_final_for_a_request_reply_charge(
    paytrace: FakePayTrace, intents: IntentStore
) -> None:
    charger = once(paytrace, intents)
    paytrace.decline = True
    charged = await charger.execute(plan(charger), sent_at=START)
    assert charged.outcome == DECLINED and charged.detail["reason"] == "Do not honor."
    assert charged.detail["transaction_id"] == "1001"
    assert fresh(intents, plan(charger)).status == DONE
    replay = await charger.execute(fresh(intents, plan(charger)), sent_at=START)
    assert (replay.how, replay.outcome) == ("already", DECLINED) and len(paytrace.sent) == 1


async def test_a_decline_is_one_try_when_declines_are_not_final(
    paytrace: FakePayTrace, intents: IntentStore
) -> None:
    charger = once(paytrace, intents, declines_final=False)
    paytrace.decline = True
    charged = await charger.execute(plan(charger), sent_at=START)
    assert charged.outcome == DECLINED
    assert fresh(intents, plan(charger)).status == PLANNED  # the next try may send
    paytrace.decline = False
    retry = await charger.execute(fresh(intents, plan(charger)), sent_at=START)
    assert retry.outcome == APPROVED and len(paytrace.sent) == 2


@pytest.mark.parametrize("declines_final", [True, False])
async def test_a_lost_decline_is_found_only_when_declines_are_final(
    paytrace: FakePayTrace, intents: IntentStore, clock: ManualClock, declines_final: bool
) -> None:
    charger = once(paytrace, intents, declines_final=declines_final)
    intent = sent_long_ago(charger, clock)
    paytrace.remember(77, f"{REF} Invoice CIV-1 (usmf)", declined=True)
    found = await charger.find(intent, sent_at=START)
    if declines_final:
        assert found is not None and found["outcome"] == DECLINED and found["reason"]
    else:  # an earlier try of the same key, which moved no money
        assert found is None


async def test_the_lookup_matches_the_reference_at_the_head_of_the_description(
    paytrace: FakePayTrace, intents: IntentStore, clock: ManualClock
) -> None:
    charger = once(paytrace, intents)
    intent = sent_long_ago(charger, clock)
    paytrace.remember(5, "PayBridge charge k-10 Invoice CIV-1 (usmf)", declined=False)
    paytrace.remember(6, "Refund of PayBridge charge k-1", declined=False)
    assert await charger.find(intent, sent_at=START) is None
    paytrace.remember(7, f"{REF} anything a template wrote", declined=False)
    found = await charger.find(intent, sent_at=START)
    assert found is not None and found["transaction_id"] == "7"


async def test_a_failed_lookup_is_in_doubt_never_a_refusal(
    paytrace: FakePayTrace, intents: IntentStore, clock: ManualClock
) -> None:
    charger = once(paytrace, intents)
    intent = sent_long_ago(charger, clock)
    paytrace.export_fails = True
    with pytest.raises(InDoubtError, match="cannot look the charge up"):
        await charger.execute(intent, sent_at=START)
    assert paytrace.sent == [] and fresh(intents, intent).status == SENT


async def test_a_charge_in_another_currency_is_refused_before_sending(
    paytrace: FakePayTrace, intents: IntentStore
) -> None:
    charger = once(paytrace, intents)
    with pytest.raises(DataError, match="EUR charge"):
        await charger.execute(plan(charger, currency="EUR"), sent_at=START)
    assert paytrace.sent == [] and fresh(intents, plan(charger)).status == PLANNED


def test_code_owns_the_customer_the_amount_and_the_head_of_the_description() -> None:
    mapped = {
        "customer_id": "US-001", "amount": "999.99", "invoice_id": "CIV-1",
        "description": "  Invoice CIV-1\n (usmf) ", "tax_amount": "1.20",
        "discretionary_data": {"SalesOrder": "000601", "Lines": 3, "Empty": None},
    }  # fmt: skip
    body = charge_body(customer_id="SHOP-1", amount=Decimal("12.30"), reference=REF, mapped=mapped)
    assert body == {
        "customer_id": "SHOP-1", "amount": "12.30", "invoice_id": "CIV-1", "tax_amount": "1.20",
        "description": f"{REF} Invoice CIV-1 (usmf)",
        "discretionary_data": {"SalesOrder": "000601", "Lines": "3"},
    }  # fmt: skip
    bare = charge_body(customer_id="SHOP-1", amount=Decimal("1.00"), reference="sub:1:2026-01-31")
    assert bare["description"] == "sub:1:2026-01-31" and "invoice_id" not in bare


@pytest.mark.parametrize(
    ("mapped", "field"),
    [
        ({"discretionary_data": {"Note": "card 4012000098765439"}}, "$.discretionary_data.Note"),
        ({"invoice_id": "x" * 51}, "invoice_id"),
        ({"customer_reference_id": "R" * 18}, "customer_reference_id"),
    ],
)
def test_a_bad_or_card_bearing_template_record_is_refused(
    mapped: dict[str, Any], field: str
) -> None:
    with pytest.raises(DataError) as caught:
        charge_body(customer_id="SHOP-1", amount=Decimal("1.00"), reference=REF, mapped=mapped)
    assert field in caught.value.fields
    assert "4012000098765439" not in str(caught.value.fields)


def test_a_plan_whose_description_does_not_start_with_the_reference_is_a_bug(
    paytrace: FakePayTrace, intents: IntentStore
) -> None:
    charger = once(paytrace, intents)
    body = {"customer_id": "SHOP-1", "amount": "1.00", "description": "Invoice CIV-1"}
    with pytest.raises(ValueError, match="must start with its reference"):
        charger.plan("charge:k", "paytrace.charge", REF, body, {})


def test_carries_needs_the_reference_whole() -> None:
    record = TransactionRecord(transaction_id=1, description=f"{REF} Invoice CIV-1")
    assert carries(record, REF) and not carries(record, "PayBridge charge k")
    assert carries(TransactionRecord(transaction_id=2, description=REF), REF)
