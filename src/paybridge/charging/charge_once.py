"""Charge PayTrace once: a planned charge intent sent at most once per confirmed absence.

The published interface of ``charging`` (billing and orders import this module and nothing else
of it). Besides sales and authorizations by customer profile it sends refunds of an earlier
transaction (mode ``refund``, ``refund_body``): orders refunds credit notes through it.
A charge is an intent (``IntentStore``) whose detail holds the whole PayTrace request, so a
retry sends exactly what was planned. Its ``reference`` is the exactly-once anchor and is set
by code, never by a template: the request's ``description`` starts with it (a template's text may
follow after a space) and a lost reply is looked up by it in PayTrace's export. A lookup that
finds nothing proves nothing until ``grace`` has passed since the send; only then may the charge
be sent again. A failed lookup proves nothing either: it is in doubt, never a refusal.

``declines_final`` says what a decline means for the key: final (a request/reply charge: the
intent is completed with the decline, and a decline found by a lookup is the answer), or one try
of several (a subscription period retried by dunning under the same key: the intent goes back to
planned, and declines found by a lookup are earlier tries that moved no money).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import SecretStr, ValidationError

from paybridge.clock import Clock
from paybridge.connectors.paytrace import (
    CheckExportRequest,
    CheckRecord,
    CheckSaleByCustomerRequest,
    CustomerSaleRequest,
    ExportByDateRangeRequest,
    PayTraceClient,
    ProtectSaleRequest,
    TransactionRecord,
    TransactionRefundRequest,
)
from paybridge.connectors.paytrace.codes import decline_reason
from paybridge.connectors.paytrace.poller import change_kinds
from paybridge.errors import DataError, DeclinedError, InDoubtError, PayBridgeError
from paybridge.keys import check_transaction_id
from paybridge.runtime.intents import PLANNED, Intent, IntentStore
from paybridge.security.cardguard import find_card_numbers

log = logging.getLogger(__name__)

APPROVED, DECLINED = "approved", "declined"
SALE, AUTHORIZATION, REFUND = "sale", "authorization", "refund"
# A charge's ``source`` in its intent: the customer's vault profile (default), or a card typed
# into PayTrace Protect's hosted fields (a pay-by-link page), whose one-time token is never kept.
PROFILE, PROTECT = "profile", "protect"
# A charge's ``tender``: the card on file (default) or the bank account on file (a PayTrace
# check: sale, or hold in authorization mode; looked up in the check export).
CARD, ACH = "card", "ach"
# What code owns in a charge request; a template's values for these are not used.
CODE_FIELDS = frozenset({"customer_id", "amount"})
# The lookup reads PayTrace's export from this long before the charge was made (and the client's
# clock-skew day before that).
LOOKUP_MARGIN = timedelta(minutes=5)
# How far back a charge this store never sent is looked up before its first send.
FIRST_LOOKBACK = timedelta(days=7)


def charge_body(
    *, customer_id: str, amount: Decimal, reference: str, mapped: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The PayTrace request body of a charge, as kept in its intent (JSON-safe).

    ``mapped`` is a template's record: its fields pass through (custom fields as text in
    ``discretionary_data``), but the customer, the amount and the head of ``description`` are
    code's: the description is ``reference``, then the template's text after a space.
    """
    body = {k: v for k, v in (mapped or {}).items() if k not in CODE_FIELDS | {"description"}}
    extra = body.get("discretionary_data")
    if isinstance(extra, Mapping):
        body["discretionary_data"] = {
            str(k): str(v) for k, v in extra.items() if v not in (None, "")
        } or None
    found = find_card_numbers(body)
    if found:
        raise DataError(
            "card data in a charge request",
            fields={f.path: f"looks like card data ({f.masked}); PayBridge sends tokens only"
                    for f in found},
        )  # fmt: skip
    text = " ".join(str((mapped or {}).get("description") or "").split())
    description = f"{reference} {text}" if text and text != reference else reference
    body.update(customer_id=customer_id, amount=amount, description=description)
    try:
        request = CustomerSaleRequest.model_validate(body)
    except ValidationError as exc:
        raise DataError(
            "the charge request is not a valid PayTrace request",
            fields={".".join(str(p) for p in e["loc"]) or "$request": e["msg"]
                    for e in exc.errors()},
        ) from None  # fmt: skip
    return request.model_dump(mode="json", exclude_none=True)


def refund_body(*, transaction_id: str, amount: Decimal, reference: str) -> dict[str, Any]:
    """The PayTrace request body of a refund of an earlier transaction (mode ``refund``): its
    ``description`` is the reference, so a lost reply is found the way a charge's is."""
    request = TransactionRefundRequest(
        transaction_id=int(transaction_id), amount=amount, description=reference
    )
    return request.model_dump(mode="json", exclude_none=True)


def anchored(description: str, reference: str) -> bool:
    """Whether a description is the one of the charge ``reference``: the reference alone or
    followed by a space (then a template's text). The key a reference ends with holds no space,
    so no reference is another one followed by a space."""
    return description == reference or description.startswith(f"{reference} ")


def carries(record: TransactionRecord, reference: str) -> bool:
    """Whether PayTrace's record is the charge anchored at ``reference``."""
    return anchored(record.description or "", reference)


@dataclass(frozen=True)
class ProtectCard:
    """What PayTrace Protect's ``process()`` gave a page: a one-time token pair, never a card.

    Held in memory for the one send it is for; an intent keeps the request without it, so a
    charge found absent after a lost reply needs the card entered again."""

    hpf_token: SecretStr
    enc_key: SecretStr


@dataclass(frozen=True)
class Charged:
    """How a charge ended: ``how`` is sent, found or already; ``detail`` what PayTrace said."""

    how: str
    detail: dict[str, Any]

    @property
    def outcome(self) -> str:
        # Intents planned before outcomes were kept are approved ones (a decline was raised).
        return str(self.detail.get("outcome") or APPROVED)


class ChargeOnce:
    """Plans, sends and looks up PayTrace charges by customer profile, each exactly once."""

    def __init__(
        self,
        paytrace: PayTraceClient,
        intents: IntentStore,
        clock: Clock,
        *,
        currency: str,
        grace: timedelta,
        declines_final: bool,
        first_lookback: timedelta = FIRST_LOOKBACK,
    ) -> None:
        self.paytrace = paytrace
        self.intents = intents
        self.clock = clock
        self.currency = currency.upper()
        self.grace = grace
        self.declines_final = declines_final
        self.first_lookback = first_lookback

    async def ready(self) -> None:
        """Log in to PayTrace before the send time is recorded: the grace of a look-up runs
        from the moment the charge could leave, not from before a slow login."""
        await self.paytrace.log_in()

    def plan(
        self,
        event_key: str,
        step: str,
        reference: str,
        body: Mapping[str, Any],
        detail: Mapping[str, Any],
    ) -> Intent:
        """Record the charge unless it is recorded; the first plan wins (a retry sends the same)."""
        if not anchored(str(body.get("description", "")), reference):
            raise ValueError("a charge's description must start with its reference")
        return self.intents.plan(
            event_key, step, "paytrace", reference, {**detail, "request": dict(body)}
        )

    async def execute(
        self,
        intent: Intent,
        *,
        sent_at: datetime,
        since: datetime | None = None,
        card: ProtectCard | None = None,
    ) -> Charged:
        """Send once, or find what an earlier send did; a decline is an answer, not an error.

        ``sent_at`` is when the intent was last sent (the grace runs from it), ``since`` when the
        charge began (the lookup reads from there); ``card`` is the Protect token pair of a
        ``protect`` charge. Raises ``InDoubtError`` while the outcome is
        unknown and the definite refusals of ``execute_once`` (nothing was charged).

        A charge this store never sent is looked up first (``first_lookback``): a store restored
        from a backup, or new, knows nothing of what it charged since, and a client retrying
        with its key must get that charge, not a second one.
        """
        if intent.status == PLANNED and intent.attempts == 0 and self.first_lookback:
            now = self.clock.now()
            earlier = await self.find(
                intent, sent_at=now - self.grace, since=now - self.first_lookback
            )
            if earlier is not None and self.intents.complete(intent, earlier):
                log.warning("%s: charged before this store knew of it; not charged again",
                            intent.reference)  # fmt: skip
                return Charged("found", earlier)
            intent = self.intents.get(intent.event_key, intent.step) or intent
        try:
            resolution = await self.intents.execute_once(
                intent,
                lambda: self._send(intent, card),
                lambda: self.find(intent, sent_at=sent_at, since=since),
            )
        except DeclinedError as exc:
            detail = {
                "outcome": DECLINED, "transaction_id": exc.transaction_id, "reason": exc.reason,
                "response_code": exc.response_code, "occurred_at": self._now(),
            }  # fmt: skip
            if self.declines_final:
                self.intents.complete(self.intents.get(intent.event_key, intent.step) or intent,
                                      detail)  # fmt: skip
            return Charged("sent", detail)
        return Charged(resolution.how, resolution.detail)

    async def find(
        self, intent: Intent, *, sent_at: datetime, since: datetime | None = None
    ) -> dict[str, Any] | None:
        """The charge as PayTrace shows it; ``None`` only for an absence past the grace."""
        reference = intent.reference
        start = (since or sent_at) - LOOKUP_MARGIN
        try:
            if intent.detail.get("tender") == ACH:
                return self._found_check(await self._export_checks(reference, start), intent,
                                         sent_at)  # fmt: skip
            records = await self._export(reference, start)
        except InDoubtError:
            raise
        except PayBridgeError as exc:  # a failed lookup says nothing about the charge
            raise InDoubtError(f"cannot look the charge up: {exc}", reference=reference) from exc
        mine = [r for r in records if carries(r, reference)]
        approved = [r for r in mine if change_kinds(r) != ["decline"]]
        if len(approved) > 1:
            log.error("%d approved PayTrace transactions carry %s", len(approved), reference)
        if approved:
            return self._found(approved[0], APPROVED)
        if mine and self.declines_final:
            return self._found(mine[0], DECLINED)
        self._absent_yet(sent_at, reference, "charge")
        return None

    def _absent_yet(self, sent_at: datetime, reference: str, what: str) -> None:
        """Raise while "not found" proves nothing (within the grace from the send); the retry
        is asked for when the grace ends, so waiting spends no attempts."""
        waited = self.clock.now() - sent_at
        if waited < self.grace:
            raise InDoubtError(f"PayTrace shows no such {what} yet", reference=reference,
                               retry_after=(self.grace - waited).total_seconds() + 1)  # fmt: skip

    async def _export_checks(self, reference: str, since: datetime) -> Sequence[CheckRecord]:
        end = self.paytrace.local_date(self.paytrace.clock.now() + timedelta(hours=1))
        start = min(self.paytrace.local_date(since) - timedelta(days=1), end)
        request = CheckExportRequest(start_date=start, end_date=end, including_text=reference)
        return await self.paytrace.export_checks(request)

    def _found_check(
        self, records: Sequence[CheckRecord], intent: Intent, sent_at: datetime
    ) -> dict[str, Any] | None:
        """The check charge anchored at the intent's reference, as PayTrace's check export shows it."""
        reference = intent.reference
        mine = [r for r in records if anchored(r.description, reference)]
        approved = [r for r in mine if r.status.strip().upper() != "DECLINED"]
        chosen = approved[0] if approved else (mine[0] if mine and self.declines_final else None)
        if chosen is None:
            self._absent_yet(sent_at, reference, "check")
            return None
        created = chosen.at("created", self.paytrace.merchant_tz)
        detail: dict[str, Any] = {
            "outcome": APPROVED if approved else DECLINED,
            "transaction_id": check_transaction_id(chosen.check_transaction_id),
            "approval_code": "", "masked_card": None,
            "occurred_at": (created or self.clock.now()).isoformat(),
        }  # fmt: skip
        if not approved:
            detail["reason"] = chosen.ach_message or "the check was not processed"
        return detail

    async def _export(self, reference: str, since: datetime) -> Sequence[TransactionRecord]:
        """PayTrace's records mentioning ``reference`` since ``since``.

        The range starts a day early and ends an hour ahead (as ``find_transactions``), so that
        clock skew cannot hide the charge; the match is by prefix, which ``find_transactions``
        (exact) cannot do, since a template's text may follow the reference.
        """
        end = self.paytrace.local_date(self.paytrace.clock.now() + timedelta(hours=1))
        start = min(self.paytrace.local_date(since) - timedelta(days=1), end)
        request = ExportByDateRangeRequest(start_date=start, end_date=end, including_text=reference)
        return await self.paytrace.export_by_date_range(request)

    async def _send(self, intent: Intent, card: ProtectCard | None) -> dict[str, Any]:
        d = intent.detail
        currency = str(d.get("currency") or self.currency).upper()
        if currency != self.currency:
            raise DataError(
                f"a {currency} charge cannot be made on this {self.currency} PayTrace account",
                fields={"currency": currency},
            )
        if d.get("tender") == ACH:
            return await self._send_check(intent)
        if d.get("mode") == REFUND:
            refund = TransactionRefundRequest.model_validate(_request_of(intent))
            reply = await self.paytrace.refund_for_transaction(refund)
        elif d.get("source") == PROTECT:
            reply = await self._send_protect(intent, card)
        else:
            send = self.paytrace.sale_by_customer
            if d.get("mode") == AUTHORIZATION:
                send = self.paytrace.authorize_by_customer
            reply = await send(CustomerSaleRequest.model_validate(_request_of(intent)))
        return {
            "outcome": APPROVED, "transaction_id": str(reply.transaction_id),
            "approval_code": reply.approval_code, "masked_card": reply.masked_card_number,
            "occurred_at": self._now(),
        }  # fmt: skip

    async def _send_check(self, intent: Intent) -> dict[str, Any]:
        """A check sale (or hold) on the customer's bank account on file."""
        sent = _request_of(intent)
        keep = ("customer_id", "amount", "invoice_id", "description", "email")
        request = CheckSaleByCustomerRequest.model_validate(
            {k: sent[k] for k in keep if sent.get(k) is not None}
        )
        send = self.paytrace.check_sale_by_customer
        if intent.detail.get("mode") == AUTHORIZATION:
            send = self.paytrace.check_hold_by_customer
        reply = await send(request)
        return {
            "outcome": APPROVED, "transaction_id": check_transaction_id(reply.check_transaction_id or ""),
            "approval_code": "", "masked_card": None, "occurred_at": self._now(),
        }  # fmt: skip

    async def _send_protect(self, intent: Intent, card: ProtectCard | None) -> Any:
        if card is None:  # the token pair was for an earlier send; PayBridge never keeps it
            raise DataError(
                "the card must be entered again",
                fields={"hpf_token": "PayTrace Protect's one-time token is not kept"},
            )
        request = ProtectSaleRequest.model_validate(
            {**_request_of(intent), "hpf_token": card.hpf_token, "enc_key": card.enc_key}
        )
        if intent.detail.get("mode") == AUTHORIZATION:
            return await self.paytrace.authorize_pt_protect(request)
        return await self.paytrace.sale_pt_protect(request)

    def _found(self, record: TransactionRecord, outcome: str) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "outcome": outcome, "transaction_id": str(record.transaction_id),
            "approval_code": record.approval_code,
            "masked_card": record.credit_card.masked_number if record.credit_card else None,
            "occurred_at": record.created_at_utc(self.paytrace.merchant_tz).isoformat(),
        }  # fmt: skip
        if outcome == DECLINED:
            detail["reason"] = decline_reason(0, record.approval_message or record.status_message)
        return detail

    def _now(self) -> str:
        return self.clock.now().replace(microsecond=0).isoformat()


def _request_of(intent: Intent) -> dict[str, Any]:
    """The request the intent holds; intents planned before it was kept hold its parts."""
    d = intent.detail
    if "request" in d:
        return dict(d["request"])
    return {
        "customer_id": d["customer_id"], "amount": d["amount"],
        "invoice_id": d.get("document_number"), "description": d.get("description") or intent.reference,
    }  # fmt: skip
