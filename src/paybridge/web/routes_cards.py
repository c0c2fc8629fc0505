"""Card-on-file requests over HTTP.

``POST /v1/card-requests`` (role operator) issues a signed, expiring link for a D365 customer;
``GET /card/{token}`` is the page the customer opens (no API key: the link is the credential),
with PayTrace Protect's hosted fields; ``POST /card/{token}`` takes Protect's one-time token pair
and puts the card on file (a PayTrace profile created once, linked, its id and masked number
written to D365). Issuing and attaching are audit rows ``card_request.create`` and ``card.attach``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, SecretStr

from paybridge.customers.card_links import CardLinkError, CardLinks
from paybridge.web.auth import AUTH_RESPONSES, Principal, audit, require_role
from paybridge.web.card_page import HEADERS, STATUS, render_page, render_refused

router = APIRouter(tags=["cards"])
Token = Annotated[str, Path(min_length=10, max_length=1000)]


class CardRequestIn(BaseModel):
    company: str = Field(min_length=1, max_length=10, description="D365 legal entity, e.g. usmf.")
    account: str = Field(min_length=1, max_length=40, description="D365 customer account.")


class CardRequestOut(BaseModel):
    """A link to send the customer; it works once, until ``expires_at``."""

    url: str
    expires_at: datetime
    company: str
    account: str
    written_to: str | None = Field(
        default=None, description="The D365 customer field the link was written into, if any."
    )


class CardIn(BaseModel):
    """What PayTrace Protect's ``process()`` gave the page: never a card number."""

    hpf_token: SecretStr = Field(min_length=1, max_length=200)
    enc_key: SecretStr = Field(min_length=1, max_length=500)


def _cards(request: Request) -> CardLinks:
    cards: CardLinks = request.app.state.cards
    return cards


@router.post(
    "/v1/card-requests", status_code=201, response_model=CardRequestOut, responses=AUTH_RESPONSES
)
async def create_card_request(
    body: CardRequestIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("operator"))],
) -> CardRequestOut:
    """Issue a card-on-file link for a D365 customer (PayTrace needs a card to make a profile)."""
    cards = _cards(request)
    link = await cards.issue(body.company, body.account)
    audit(
        request, principal.actor, "card_request.create",
        target=f"customer:{link.company}/{link.account}",
        detail={"link": link.nonce, "expires_at": link.expires_at.isoformat()},
    )  # fmt: skip
    return CardRequestOut(
        url=cards.url(link), expires_at=link.expires_at, company=link.company,
        account=link.account, written_to=cards.settings.link_field,
    )  # fmt: skip


@router.get("/card/{token}", include_in_schema=False)
async def card_page(token: Token, request: Request) -> HTMLResponse:
    cards = _cards(request)
    try:
        page = await cards.page(token)
    except CardLinkError as refused:
        return HTMLResponse(render_refused(refused), STATUS[refused.problem], headers=HEADERS)
    return HTMLResponse(render_page(page, cards.protect_js_url), headers=HEADERS)


@router.post("/card/{token}", include_in_schema=False)
async def attach_card(token: Token, body: CardIn, request: Request) -> JSONResponse:
    cards = _cards(request)
    try:
        link = cards.verify(token)
        done = await cards.submit(token, body.hpf_token, body.enc_key)
    except CardLinkError as refused:
        error = {"message": refused.message, "fields": refused.fields}
        return JSONResponse({"error": error}, STATUS[refused.problem], headers=HEADERS)
    audit(
        request, f"card-link:{link.nonce}", "card.attach",
        target=f"customer:{link.company}/{link.account}",
        detail={"profile_id": done.profile_id, "masked_card": done.masked_card,
                "created": done.created},
    )  # fmt: skip
    answer = {
        "masked_card": done.masked_card, "profile_id": done.profile_id,
        "message": f"Thank you: card {done.masked_card} is on file.",
    }  # fmt: skip
    return JSONResponse(answer, 201, headers=HEADERS)
