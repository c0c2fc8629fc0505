"""Pay-by-link over HTTP.

``POST /v1/paylinks`` (role operator) issues a signed, expiring link for an open D365 invoice;
``GET /pay/{token}`` is the page the customer opens (no API key: the link is the credential):
the invoice's open amount and PayTrace Protect's hosted fields, or "paid" once nothing is open;
``POST /pay/{token}`` takes Protect's one-time token pair and charges the open amount once
(201 approved, 402 declined, 202 being confirmed, 409 paid or in progress, 404/410 bad link).
Issuing and paying are audit rows ``paylink.create`` and ``paylink.pay``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, SecretStr

from paybridge.charging.charge_once import ProtectCard
from paybridge.charging.paylinks import PayLinkError, PayLinks, PayPage
from paybridge.charging.records import APPROVED, DECLINED, IdempotencyConflict
from paybridge.charging.service import ChargeOutcome
from paybridge.errors import ConfigError, DataError
from paybridge.web.auth import AUTH_RESPONSES, Principal, audit, require_role
from paybridge.web.card_page import (
    HEADERS,
    HostedFieldsView,
    render_hosted_fields,
    render_message,
)

router = APIRouter(tags=["paylinks"])
Token = Annotated[str, Path(min_length=10, max_length=1000)]
STATUS = {"invalid": 404, "expired": 410, "paid": 409}
TITLE = "Pay invoice"


class PayLinkIn(BaseModel):
    company: str = Field(min_length=1, max_length=10, description="D365 legal entity, e.g. usmf.")
    invoice: str = Field(min_length=1, max_length=50, description="D365 invoice number.")


class PayLinkOut(BaseModel):
    """A link to send the customer; it works until ``expires_at``, and pays at most what is open."""

    url: str
    expires_at: datetime
    company: str
    invoice: str
    written_to: str | None = Field(
        default=None, description="The D365 field the link was written into, if any."
    )


class PaymentIn(BaseModel):
    """What PayTrace Protect's ``process()`` gave the page: never a card number."""

    hpf_token: SecretStr = Field(min_length=1, max_length=200)
    enc_key: SecretStr = Field(min_length=1, max_length=500)


def _links(request: Request) -> PayLinks:
    links: PayLinks = request.app.state.paylinks
    return links


@router.post("/v1/paylinks", status_code=201, response_model=PayLinkOut, responses=AUTH_RESPONSES)
async def create_paylink(
    body: PayLinkIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("operator"))],
) -> PayLinkOut:
    """Issue a pay-by-link for an open D365 invoice (the page charges its open amount)."""
    links = _links(request)
    link = await links.issue(body.company, body.invoice)
    audit(
        request, principal.actor, "paylink.create", target=f"invoice:{link.company}/{link.invoice}",
        detail={"link": link.nonce, "expires_at": link.expires_at.isoformat()},
    )  # fmt: skip
    written = links.settings.order_field
    return PayLinkOut(
        url=links.url(link), expires_at=link.expires_at, company=link.company,
        invoice=link.invoice, written_to=written,
    )  # fmt: skip


@router.get("/pay/{token}", include_in_schema=False)
async def paylink_page(token: Token, request: Request) -> HTMLResponse:
    links = _links(request)
    try:
        page = await links.page(token)
    except PayLinkError as refused:
        html = render_message(TITLE, "This link cannot be used", refused.message)
        return HTMLResponse(html, STATUS[refused.problem], headers=HEADERS)
    except DataError as refused:  # the invoice is no longer in D365
        html = render_message(TITLE, "This link cannot be used", refused.message)
        return HTMLResponse(html, 404, headers=HEADERS)
    except ConfigError:  # pay links are off (no paylinks.link_secret): no link is valid
        html = render_message(TITLE, "This link cannot be used", "Payment links are not in use.")
        return HTMLResponse(html, 404, headers=HEADERS)
    return HTMLResponse(_render(page, links.protect_js_url), headers=HEADERS)


def _render(page: PayPage, protect_js_url: str) -> str:
    link = page.link
    what = f"Invoice {link.invoice} ({link.company.upper()}, account {page.account})"
    if page.state == "paid":
        charge = page.charge
        paid = (
            f" by card {charge.outcome.get('masked_card')}"
            if charge and charge.status == APPROVED
            else ""
        )
        return render_message(TITLE, "This invoice is paid", f"{what} is paid{paid}. Thank you.")
    if page.state == "confirming":
        return render_message(
            TITLE, "Your payment is being confirmed",
            f"{what}: PayTrace has not confirmed your payment yet. Reload this page in a minute.",
        )  # fmt: skip
    amount = _money(page.open_amount, page.currency)
    intro = f'<p>{escape(what)}</p><p>Amount due: <strong id="amount">{escape(amount)}</strong></p>'
    expires = link.expires_at.strftime("%Y-%m-%d %H:%M")
    view = HostedFieldsView(
        title=f"{TITLE} {link.invoice}", heading=f"Pay invoice {link.invoice}", intro=intro,
        validity=f"This link works until {expires} UTC.", button=f"Pay {amount}",
        client_key=page.client_key,
    )  # fmt: skip
    return render_hosted_fields(view, protect_js_url)


@router.post("/pay/{token}", include_in_schema=False)
async def pay(token: Token, body: PaymentIn, request: Request) -> JSONResponse:
    links = _links(request)
    try:
        link = links.verify(token)
        charged = await links.pay(token, ProtectCard(body.hpf_token, body.enc_key))
    except PayLinkError as refused:
        return _refusal(refused.message, STATUS[refused.problem], refused.fields)
    except IdempotencyConflict:
        return _refusal("your payment is being processed; reload the page in a minute", 409)
    except DataError as refused:
        return _refusal(refused.message, 422, refused.fields)
    except ConfigError:
        return _refusal("payment links are not in use", 404, {"link": "invalid"})
    audit(
        request, f"paylink:{link.nonce}", "paylink.pay",
        target=f"invoice:{link.company}/{link.invoice}",
        outcome="ok" if charged.status == APPROVED else charged.status,
        detail={k: charged.outcome.get(k) for k in ("transaction_id", "amount", "masked_card")},
    )  # fmt: skip
    return _answer(charged)


def _answer(charged: ChargeOutcome) -> JSONResponse:
    out = charged.outcome
    amount = _money(Decimal(str(out.get("amount") or 0)), str(out.get("currency") or ""))
    answer = {
        "status": charged.status, "transaction_id": out.get("transaction_id"),
        "amount": out.get("amount"), "currency": out.get("currency"),
        "masked_card": out.get("masked_card"),
    }  # fmt: skip
    if charged.status == APPROVED:
        message = f"Thank you: {amount} paid by card {out.get('masked_card') or ''}.".replace(
            " .", "."
        )
        return JSONResponse({**answer, "message": message}, 201, headers=HEADERS)
    if charged.status == DECLINED:
        reason = str(out.get("reason") or "declined")
        error = {"message": f"The card was declined ({reason}); try another card.", "fields": {}}
        return JSONResponse({**answer, "error": error}, 402, headers=HEADERS)
    message = "PayTrace has not confirmed your payment yet; reload the page in a minute."
    return JSONResponse({**answer, "message": message}, 202, headers=HEADERS)


def _refusal(message: str, status: int, fields: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "fields": fields or {}}}, status, headers=HEADERS
    )


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}".strip()
