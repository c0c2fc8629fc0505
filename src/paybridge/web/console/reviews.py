"""Reviews (with ``insight.enabled``): payments held for review, released or confirmed by an
operator, as ``paybridge insight review`` and ``/v1/insight/reviews`` do. It imports nothing of
``paybridge.insight``: the desk comes on ``app.state.insight_review`` (``app.api`` puts it there)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from paybridge.errors import PayBridgeError
from paybridge.web.console.render import page
from paybridge.web.console.session import Visitor, needs, posted
from paybridge.web.routes_insight import Desk

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
OperatorPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("operator"))]
STATES = ("held", "released", "confirmed", "alerted")


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.insight_review
    return desk


def _show(
    request: Request, who: Visitor, state: str, status: int = 200, **extra: object
) -> Response:
    rows = [row.to_dict() for row in _desk(request).list(state, 200)]
    return page(request, "reviews.html", status, visitor=who, nav="reviews", rows=rows,
                state=state, states=STATES, **extra)  # fmt: skip


@router.get("/reviews", response_class=HTMLResponse)
async def reviews(request: Request, who: Viewer, state: str = "held") -> Response:
    return _show(request, who, state if state in STATES else "held")


@router.post("/reviews/decide")
async def decide(request: Request, sent: OperatorPost) -> Response:
    who, form = sent
    key, action, note = (
        form.get("key", "")[:200],
        form.get("action", ""),
        form.get("note", "")[:2000],
    )
    desk = _desk(request)
    try:
        if action == "release":
            done = desk.release(key, actor=who.actor, note=note, client=who.client)
        elif action in ("confirm", "void"):
            done = await desk.confirm(key, actor=who.actor, note=note, void=action == "void",
                                      client=who.client)  # fmt: skip
        else:
            return _show(request, who, "held", 422, problem="choose release, confirm or void")
    except PayBridgeError as exc:
        return _show(request, who, "held", 422, problem=exc.message)
    return _show(request, who, "held", notice=f"{done.key}: {done.message}")
