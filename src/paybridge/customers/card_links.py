"""Card-on-file requests: a signed, expiring, single-use link to a page where a D365 customer
puts a card on file through PayTrace Protect's hosted fields.

PayTrace makes no profile without a card, so a customer created first in D365 waits for one.
A link names the customer (company and account) and when it stops working, signed with
HMAC-SHA256 (``cards.link_secret``); nothing of it is kept but the issuance in the ledger. The
page's fields belong to PayTrace: the card goes from the browser to PayTrace, and PayBridge gets
only Protect's one-time ``hpf_token``/``enc_key``, which ``CardTokens.attach_card`` turns into the
profile (created once), the cross-reference, and the profile id and masked number in D365.
A link is used once: a cursor row ``card-link:<nonce>`` is claimed before the card is attached.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import SecretStr

from paybridge.clock import Clock
from paybridge.customers.settings import CardRequestSettings
from paybridge.customers.sync import CUSTOMERS, CardOnFile, CardTokens
from paybridge.errors import ConfigError, DataError
from paybridge.runtime.cursors import Cursors
from paybridge.security.links import BadLinkToken, canonical, link_nonce, read_token, sign_token

_VERSION = "c1"
_USING, _USED = "using", "used"
LinkProblem = Literal["invalid", "expired", "used"]


class CardLinkError(DataError):
    """A card link that cannot be used: not one PayBridge signed, past its time, or used already."""

    def __init__(self, problem: LinkProblem, message: str) -> None:
        super().__init__(message, fields={"link": problem})
        self.problem = problem


@dataclass(frozen=True)
class CardLink:
    """One signed request: who may put a card on file, until when."""

    company: str
    account: str
    expires_at: datetime
    nonce: str
    token: str


@dataclass(frozen=True)
class CardPage:
    """What the hosted page shows: the customer, the card on file now, and Protect's setup."""

    link: CardLink
    name: str
    masked_card: str
    client_key: str


class CardLinks:
    """Issues card-on-file links and takes the card a link's page sends (as Protect tokens)."""

    def __init__(
        self,
        tokens: CardTokens,
        cursors: Cursors,
        clock: Clock,
        settings: CardRequestSettings,
        *,
        secret: Callable[[], str] | None,
        base_url: str,
        protect_js_url: str,
        nonce: Callable[[], str] = link_nonce,
    ) -> None:
        self.tokens = tokens
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

    def url(self, link: CardLink) -> str:
        return f"{self.base_url}/card/{link.token}"

    async def issue(self, company: str, account: str) -> CardLink:
        """A new link for the D365 customer; written into ``cards.link_field`` when set."""
        key = self._key()
        company = company.strip().lower()
        account = account.strip()
        row = await self._customer(company, account)
        if row is None:
            raise DataError(
                f"D365 has no customer {company}/{account}", fields={"account": account}
            )
        expires = self.clock.now().astimezone(UTC) + timedelta(hours=self.settings.link_ttl_hours)
        payload = {"c": company, "a": account, "e": int(expires.timestamp()), "n": self._nonce()}
        link = _link(payload, sign_token(key, _VERSION, payload).rsplit(".", 1)[-1])
        if self.settings.link_field:
            await self.tokens.sync.d365.update(
                CUSTOMERS, {"dataAreaId": company, "CustomerAccount": account},
                {self.settings.link_field: self.url(link)}, cross_company=True, reference=account,
            )  # fmt: skip
        self.tokens.sync.ledger.record(
            f"customer:{company}/{account}", "card_link.issue", system="paybridge",
            entity="card_link", entity_id=link.nonce, status="issued",
            detail={"expires_at": link.expires_at.isoformat(), "written_to": self.settings.link_field},
        )  # fmt: skip
        return link

    def verify(self, token: str) -> CardLink:
        """The link behind ``token``; ``CardLinkError`` when it is not PayBridge's or has expired."""
        key = self._key()
        try:
            payload = read_token(key, _VERSION, token)
        except BadLinkToken:
            raise CardLinkError("invalid", "this is not a card link PayBridge issued") from None
        link = _link(payload, token.rsplit(".", 1)[-1])
        if self.clock.now() >= link.expires_at:
            raise CardLinkError("expired", "this card link has expired; ask for a new one")
        if self.cursors.get(_claim_name(link)) in (_USING, _USED):
            raise CardLinkError("used", "a card was put on file with this link already")
        return link

    async def page(self, token: str) -> CardPage:
        link = self.verify(token)
        row = await self._customer(link.company, link.account)
        if row is None:
            raise CardLinkError("invalid", "the customer of this link is no longer in D365")
        field = self.tokens.sync.settings.masked_card_field
        masked = str(row.get(field) or "") if field else ""
        return CardPage(link, _name(row), masked, await self.tokens.client_key(link.company))

    async def submit(self, token: str, hpf_token: SecretStr, enc_key: SecretStr) -> CardOnFile:
        """Put the card on file once: the link is claimed first, released if PayTrace refuses."""
        link = self.verify(token)
        name = _claim_name(link)
        if not self.cursors.advance_if(name, "", _USING, missing=""):
            raise CardLinkError("used", "a card was put on file with this link already")
        try:
            done = await self.tokens.attach_card(link.company, link.account, hpf_token, enc_key)
        except BaseException:
            self.cursors.advance_if(name, _USING, "")  # nothing on file: the link works again
            raise
        self.cursors.advance_if(name, _USING, _USED)
        return done

    def _key(self) -> bytes:
        if self._secret is None:
            raise ConfigError(
                "cards.link_secret is not set: card-on-file links are off", operation="cards"
            )
        return self._secret().encode("utf-8")

    async def _customer(self, company: str, account: str) -> dict[str, Any] | None:
        field = self.tokens.sync.settings.masked_card_field
        select = ["CustomerAccount", "OrganizationName", "PersonFirstName", "PersonLastName"]
        return await self.tokens.sync.d365.get(
            CUSTOMERS, {"dataAreaId": company, "CustomerAccount": account},
            select=[*select, field] if field else select, cross_company=True,
        )  # fmt: skip


def _claim_name(link: CardLink) -> str:
    return f"card-link:{link.nonce}"


def _name(row: dict[str, Any]) -> str:
    person = " ".join(str(row.get(k) or "") for k in ("PersonFirstName", "PersonLastName"))
    return str(row.get("OrganizationName") or "").strip() or person.strip()


def _link(payload: dict[str, Any], signature: str) -> CardLink:
    try:
        company, account, nonce = str(payload["c"]), str(payload["a"]), str(payload["n"])
        expires = datetime.fromtimestamp(int(payload["e"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise CardLinkError("invalid", "this is not a card link PayBridge issued") from None
    token = f"{_VERSION}.{_b64(canonical(payload))}.{signature}"
    return CardLink(company, account, expires, nonce, token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
