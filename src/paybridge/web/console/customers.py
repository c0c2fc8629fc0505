"""Customers: a card-on-file link for a D365 customer (operator), as ``POST /v1/card-requests``
and ``paybridge customers card-link`` issue it. PayTrace makes no profile without a card, so a
customer created first in D365 gets one through the link's page (PayTrace Protect's fields)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from paybridge.customers.card_links import CardLinks
from paybridge.errors import PayBridgeError
from paybridge.web.console.render import page
from paybridge.web.console.session import Visitor, needs, posted, services

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
OperatorPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("operator"))]


def _cards(request: Request) -> CardLinks | None:
    cards: CardLinks | None = getattr(request.app.state, "cards", None)
    return cards


@router.get("/customers", response_class=HTMLResponse)
async def customers(request: Request, who: Viewer) -> Response:
    return page(request, "customers.html", visitor=who, nav="customers",
                ready=_cards(request) is not None)  # fmt: skip


@router.post("/customers/card-link")
async def card_link(request: Request, sent: OperatorPost) -> Response:
    who, form = sent
    company, account = form.get("company", "").strip()[:10], form.get("account", "").strip()[:40]
    cards = _cards(request)
    problem = ""
    if cards is None:
        problem = "card links are not set up on this server (cards.link_secret)"
    elif not company or not account:
        problem = "give the D365 company and customer account"
    if cards is None or problem:
        return page(request, "customers.html", 422, visitor=who, nav="customers",
                    ready=cards is not None, problem=problem, company=company, account=account)  # fmt: skip
    target = f"customer:{company.lower()}/{account}"
    try:
        link = await cards.issue(company, account)
    except PayBridgeError as exc:
        _audit(request, who, target, "refused", {"why": exc.message})
        return page(request, "customers.html", 422, visitor=who, nav="customers", ready=True,
                    problem=exc.message, company=company, account=account)  # fmt: skip
    _audit(request, who, target, "ok",
           {"link": link.nonce, "expires_at": link.expires_at.isoformat()})  # fmt: skip
    issued = {"url": cards.url(link), "expires_at": link.expires_at, "company": link.company,
              "account": link.account, "written_to": cards.settings.link_field}  # fmt: skip
    return page(request, "customers.html", visitor=who, nav="customers", ready=True,
                issued=issued)  # fmt: skip


def _audit(
    request: Request, who: Visitor, target: str, outcome: str, detail: dict[str, str]
) -> None:
    services(request).security.audit.record(
        actor=who.actor, action="card_request.create", target=target, client=who.client,
        outcome=outcome, detail=detail,
    )  # fmt: skip
