"""Insight's API (only with ``insight.enabled``): the review queue and mapping suggestions.

It types what it needs as protocols and imports nothing of ``paybridge.insight``: ``app.api``
mounts it and hands the built review desk and suggester in on ``app.state``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from paybridge.web.auth import AUTH_RESPONSES, Principal, client_of, require_role

router = APIRouter(prefix="/v1/insight", tags=["insight"], responses=AUTH_RESPONSES)
Operator = Annotated[Principal, Depends(require_role("operator"))]
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Key = Annotated[str, Path(max_length=200, pattern=r"^[\w:.\-]+$")]
Suggest = Callable[[str, Mapping[str, Any], Sequence[str]], dict[str, list[dict[str, Any]]]]


class Row(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class DecisionLike(Protocol):
    key: str
    state: str
    message: str


class Desk(Protocol):
    def list(self, state: str | None = ..., limit: int = ...) -> Sequence[Row]: ...
    def release(
        self, key: str, *, actor: str, note: str = ..., client: str = ...
    ) -> DecisionLike: ...
    async def confirm(
        self, key: str, *, actor: str, note: str = ..., void: bool = ..., client: str = ...
    ) -> DecisionLike: ...


class Decide(BaseModel):
    note: str = Field(default="", max_length=2000)


class Confirm(Decide):
    void: bool = False  # void the PayTrace transaction first (before settlement only)


class SuggestBody(BaseModel):
    template: str = Field(max_length=120)
    sample: dict[str, Any] = Field(description="A record of the template's source")
    fields: list[str] = Field(default_factory=list, max_length=500)
    top: int = Field(default=3, ge=1, le=10)


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.insight_review
    return desk


@router.get("/reviews")
def list_reviews(
    request: Request, principal: Viewer,
    state: Literal["held", "released", "confirmed", "alerted", "clear", "all"] = "held",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:  # fmt: skip
    """Scored transactions by review state (held: waiting for a person), newest first."""
    rows = _desk(request).list(None if state == "all" else state, limit)
    return [row.to_dict() for row in rows]


@router.post("/reviews/{key}/release")
def release(request: Request, principal: Operator, key: Key, body: Decide) -> dict[str, str]:
    """Let a held payment post (once: the posting keeps its own intents)."""
    done = _desk(request).release(
        key, actor=principal.actor, note=body.note, client=client_of(request)
    )
    return {"key": done.key, "state": done.state, "message": done.message}


@router.post("/reviews/{key}/confirm")
async def confirm(request: Request, principal: Operator, key: Key, body: Confirm) -> dict[str, str]:
    """Confirm fraud: a held payment is never posted; ``void`` voids it in PayTrace first."""
    done = await _desk(request).confirm(
        key, actor=principal.actor, note=body.note, void=body.void, client=client_of(request)
    )
    return {"key": done.key, "state": done.state, "message": done.message}


mapping_router = APIRouter(prefix="/v1/mapping", tags=["mapping"], responses=AUTH_RESPONSES)


@mapping_router.post("/suggest")
async def suggest(request: Request, principal: Viewer, body: SuggestBody) -> dict[str, Any]:
    """For the D365 entity a template writes: likely source fields of ``sample``, per field."""
    run: Callable[[str, Mapping[str, Any], Sequence[str], int], Any] = (
        request.app.state.mapping_suggest
    )
    return {
        "template": body.template,
        "suggestions": await run(body.template, body.sample, body.fields, body.top),
    }
