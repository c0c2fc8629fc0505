"""Pay-by-link: a signed, expiring link per open D365 invoice, and the payment its page sends.

A link names the invoice (company and number) and when it stops working, signed with
HMAC-SHA256 (``paylinks.link_secret``); nothing of it is kept but its issuance in the ledger.
Its page carries PayTrace Protect's hosted fields: the card goes from the browser to PayTrace,
and PayBridge gets only the one-time ``hpf_token``/``enc_key``, charged through
``ChargeService.charge`` like any API charge (the open-amount ledger, the intent, the look-up of
a lost reply, the ``payment`` fact that o2c posts marked against the invoice).

A link's charges are keyed ``paylink.<nonce>.<attempt>``; the attempt (a cursor row
``paylink:<nonce>``) moves on only past a declined charge, so a double submit meets the same key
(answered once), a decline lets the customer try another card, and the invoice's open amount
(D365's, less PayBridge's own charges) caps every attempt of every link.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from paybridge.charging.charge_once import ProtectCard
from paybridge.charging.documents import ORDERS, Document, read_document
from paybridge.charging.records import APPROVED, DECLINED, IN_DOUBT, PENDING, ChargeRequest
from paybridge.charging.service import ChargeOutcome, ChargeService
from paybridge.charging.settings import PayLinkSettings
from paybridge.clock import Clock
from paybridge.errors import ConfigError, DataError
from paybridge.runtime.cursors import Cursors
from paybridge.security.links import BadLinkToken, link_nonce, read_token, sign_token

log = logging.getLogger(__name__)

_VERSION = "p1"
LinkProblem = Literal["invalid", "expired", "paid"]


class PayLinkError(DataError):
    """A pay link that cannot be used: not PayBridge's, past its time, or its invoice is paid."""

    def __init__(self, problem: LinkProblem, message: str) -> None:
        super().__init__(message, fields={"link": problem})
        self.problem = problem


@dataclass(frozen=True)
class PayLink:
    """One signed link: which invoice may be paid, until when."""

    company: str
    invoice: str
    expires_at: datetime
    nonce: str
    token: str


@dataclass(frozen=True)
class PayPage:
    """What the page shows: the invoice, what is open, and where its latest charge stands."""

    link: PayLink
    account: str
    currency: str
    open_amount: Decimal
    charge: ChargeOutcome | None  # the link's latest charge, if any
    client_key: str  # empty when there is nothing to pay

    @property
    def state(self) -> Literal["pay", "paid", "confirming"]:
        status = self.charge.status if self.charge else None
        if status in (IN_DOUBT, "in_progress", PENDING):
            return "confirming"
        if status == APPROVED or self.open_amount <= 0:
            return "paid"
        return "pay"


class PayLinks:
    """Issues pay links for D365 invoices and charges the card a link's page sends."""

    def __init__(
        self,
        charges: ChargeService,
        cursors: Cursors,
        clock: Clock,
        settings: PayLinkSettings,
        *,
        secret: Callable[[], str] | None,
        base_url: str,
        protect_js_url: str,
        nonce: Callable[[], str] = link_nonce,
    ) -> None:
        self.charges = charges
        self.cursors = cursors
        self.clock = clock
        self.settings = settings
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.protect_js_url = protect_js_url
        self._nonce = nonce

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def url(self, link: PayLink) -> str:
        return f"{self.base_url}/pay/{link.token}"

    async def issue(self, company: str, invoice: str) -> PayLink:
        """A new link for an open invoice; written into ``paylinks.order_field`` when set."""
        key = self._key()
        document = await self._document(company.strip().lower(), invoice.strip())
        if self._open(document) <= 0:
            raise DataError(
                "nothing to pay", fields={"invoice": f"invoice {document.number} is paid"}
            )
        await self._level3_ready(document)
        expires = self.clock.now().astimezone(UTC) + timedelta(hours=self.settings.link_ttl_hours)
        payload = {
            "c": document.company, "i": document.number, "e": int(expires.timestamp()),
            "n": self._nonce(),
        }  # fmt: skip
        link = _link(payload, sign_token(key, _VERSION, payload))
        written = await self._write_link(document, link)
        self.charges.ledger.record(
            f"invoice:{link.company}/{link.invoice}", "paylink.issue", system="paybridge",
            entity="paylink", entity_id=link.nonce, status="issued",
            detail={"expires_at": link.expires_at.isoformat(), "written_to": written},
        )  # fmt: skip
        return link

    def verify(self, token: str) -> PayLink:
        """The link behind ``token``; ``PayLinkError`` when it is not PayBridge's or has expired."""
        try:
            payload = read_token(self._key(), _VERSION, token)
        except BadLinkToken:
            raise PayLinkError("invalid", "this is not a payment link PayBridge issued") from None
        link = _link(payload, token)
        if self.clock.now() >= link.expires_at:
            raise PayLinkError("expired", "this payment link has expired; ask for a new one")
        return link

    async def page(self, token: str) -> PayPage:
        link = self.verify(token)
        document = await self._document(link.company, link.invoice)
        charge = self.charges.state(self._charge_key(link))
        page = PayPage(link, document.account, document.currency, self._open(document), charge, "")
        if page.state != "pay":
            return page
        # Protect's key from the account that will charge (the company's): a token of another
        # merchant account could not be charged there.
        merchant = self.charges.merchant(link.company)
        gateway = merchant.client if merchant is not None else self.charges.paytrace
        return PayPage(
            link, document.account, document.currency, page.open_amount, charge,
            await gateway.create_client_key(),
        )  # fmt: skip

    async def pay(self, token: str, card: ProtectCard) -> ChargeOutcome:
        """Charge the invoice's open amount to the card once; a repeat answers the first charge.

        Raises ``PayLinkError("paid")`` when nothing is open, ``IdempotencyConflict`` while a
        charge of this link is in progress, and the charge's own refusals."""
        link = self.verify(token)
        key = self._charge_key(link)
        before = self.charges.state(key)
        if before is not None and before.status == DECLINED:
            key = self._next_attempt(link, key)
        elif before is None or before.status not in (APPROVED, IN_DOUBT, "in_progress"):
            document = await self._document(link.company, link.invoice)
            if self._open(document) <= 0:
                raise PayLinkError("paid", f"invoice {link.invoice} is paid; nothing is open")
        request = ChargeRequest(company=link.company, invoice_number=link.invoice)
        return await self.charges.charge(request, key, card=card)

    # -- parts -----------------------------------------------------------------------------

    def _charge_key(self, link: PayLink) -> str:
        attempt = self.cursors.get(_attempts(link)) or "1"
        return f"paylink.{link.nonce}.{attempt}"

    def _next_attempt(self, link: PayLink, key: str) -> str:
        """Past a declined charge: the next attempt's key (one of two racing submits moves it)."""
        attempt = int(key.rsplit(".", 1)[-1])
        self.cursors.advance_if(_attempts(link), str(attempt), str(attempt + 1), missing="1")
        return self._charge_key(link)

    async def _document(self, company: str, invoice: str) -> Document:
        request = ChargeRequest(company=company, invoice_number=invoice)
        return await read_document(self.charges.dynamics, request, ("SalesOrderNumber",))

    def _open(self, document: Document) -> Decimal:
        """D365's open amount less PayBridge's live charges against the invoice."""
        return self.charges.documents.available(document, "").amount

    async def _level3_ready(self, document: Document) -> None:
        """Under ``level3.on_failure: block`` a link is not issued for an invoice whose sale
        would be refused: the operator sees the findings now, not the customer later."""
        level3 = self.charges.level3
        if level3 is None or not level3.enabled or level3.settings.on_failure != "block":
            return
        checked, _ = await self.charges.level3_check(document.company, document.number)
        if checked.blocked:
            raise DataError(
                f"invoice {document.number} fails its Level 2/3 pre-flight "
                "(level3.on_failure: block): fix it in D365 before sending a pay link",
                fields={f.field: f.message for f in checked.findings if f.severity == "error"},
            )

    async def _write_link(self, document: Document, link: PayLink) -> str | None:
        field, order = self.settings.order_field, str(document.row.get("SalesOrderNumber") or "")
        if not field or not order:
            return None
        await self.charges.dynamics.update(
            ORDERS, {"dataAreaId": document.company, "SalesOrderNumber": order},
            {field: self.url(link)}, cross_company=True, reference=order,
        )  # fmt: skip
        return f"{ORDERS}.{field} of {order}"

    def _key(self) -> bytes:
        if self._secret is None:
            raise ConfigError(
                "paylinks.link_secret is not set: pay links are off", operation="paylinks"
            )
        return self._secret().encode("utf-8")


def _attempts(link: PayLink) -> str:
    return f"paylink:{link.nonce}"


def _link(payload: dict[str, object], token: str) -> PayLink:
    try:
        company, invoice, nonce = str(payload["c"]), str(payload["i"]), str(payload["n"])
        expires = datetime.fromtimestamp(int(str(payload["e"])), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise PayLinkError("invalid", "this is not a payment link PayBridge issued") from None
    return PayLink(company, invoice, expires, nonce, token)
