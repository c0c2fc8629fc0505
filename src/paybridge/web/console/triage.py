"""Error triage: dead letters grouped by reason, their state, comments and assignee, replay one
or all of a group, and edit-and-retry (link the payment's customer, then replay). Operator
actions are POST forms; each is refused for a viewer however it was sent, and audited."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paybridge.errors import DataError
from paybridge.runtime.queue import TRIAGE_STATES
from paybridge.web.console.render import page
from paybridge.web.console.session import ConsoleRefusal, Visitor, needs, posted, services

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
OperatorPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("operator"))]
ACTIONS = ("resolve", "ignore", "reopen", "comment")
DONE = {
    "resolve": "Resolved.", "ignore": "Ignored.", "reopen": "Reopened.", "comment": "Comment kept.",
    "replay": "Put back in the queue.", "link": "Customer linked; the payment is back in the queue.",
}  # fmt: skip


def _back(target: str, **query: str) -> RedirectResponse:
    url = f"{target}?{urlencode(query)}" if query else target
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/errors", response_class=HTMLResponse)
async def errors(request: Request, who: Viewer, state: str = "open", group: str = "",
                 done: str = "") -> Response:  # fmt: skip
    if state not in (*TRIAGE_STATES, "all"):
        state = "open"
    triage = services(request).triage
    groups, letters = await asyncio.to_thread(triage.overview, state, group)
    return page(request, "errors.html", visitor=who, nav="errors", state=state, group=group,
                groups=groups, letters=letters, states=(*TRIAGE_STATES, "all"),
                done=DONE.get(done, ""))  # fmt: skip


@router.get("/errors/{message_id}", response_class=HTMLResponse)
async def error(request: Request, who: Viewer, message_id: int, done: str = "",
                problem: str = "") -> Response:  # fmt: skip
    letter = await asyncio.to_thread(services(request).triage.letter, message_id)
    if letter is None:
        raise ConsoleRefusal(404, f"no dead letter {message_id}")
    return page(request, "error.html", visitor=who, nav="errors", letter=letter,
                done=DONE.get(done, ""), problem=problem[:300])  # fmt: skip


def _text(form: dict[str, str], name: str, limit: int) -> str | None:
    value = form.get(name, "").strip()
    return value[:limit] if value else None


@router.post("/errors/{message_id}/triage")
def triage_action(request: Request, sent: OperatorPost, message_id: int) -> Response:
    who, form = sent
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ConsoleRefusal(400, "unknown action")
    row = services(request).triage.act(
        message_id, action, who.actor, who.client,
        comment=_text(form, "comment", 4000), assignee=_text(form, "assignee", 120),
    )  # fmt: skip
    if row is None:
        raise ConsoleRefusal(404, f"no dead letter {message_id}")
    return _back(f"/errors/{message_id}", done=action)


@router.post("/errors/{message_id}/replay")
def replay_one(request: Request, sent: OperatorPost, message_id: int) -> Response:
    who, form = sent
    done = services(request).triage.replay(
        [message_id], who.actor, who.client, target=f"dlq:{message_id}",
        comment=_text(form, "comment", 4000),
    )  # fmt: skip
    if not done:
        raise ConsoleRefusal(404, f"no dead letter {message_id}")
    return _back("/errors", done="replay")


@router.post("/errors/{message_id}/link")
def link_and_replay(request: Request, sent: OperatorPost, message_id: int) -> Response:
    who, form = sent
    try:
        found = services(request).triage.link_and_replay(
            message_id, form.get("d365_customer", "")[:200], who.actor, who.client,
            comment=_text(form, "comment", 4000),
        )  # fmt: skip
    except DataError as exc:
        return _back(f"/errors/{message_id}", problem=exc.message)
    if not found:
        raise ConsoleRefusal(404, f"no dead letter {message_id}")
    return _back("/errors", done="link")


@router.post("/errors/replay-group")
def replay_group(request: Request, sent: OperatorPost) -> Response:
    who, form = sent
    group = form.get("group", "")
    if not group:
        raise ConsoleRefusal(400, "which group?")
    services(request).triage.replay_group(
        group, who.actor, who.client, _text(form, "comment", 4000)
    )
    return _back("/errors", done="replay")
