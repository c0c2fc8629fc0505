"""Level 2/3 pre-flight over HTTP: ``POST /v1/level3/check`` (role viewer).

What an invoice sale would meet now: the invoice's Level 2/3 data checked against the amount
(default: what is open), each finding with its code, severity, field and message. Nothing is
recorded or sent; a charge records its own findings (``GET /v1/charges/{key}``, ``level3``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from paybridge.charging.service import ChargeService
from paybridge.web.auth import AUTH_RESPONSES, Principal, require_role

router = APIRouter(prefix="/v1/level3", tags=["level3"])


class Level3CheckIn(BaseModel):
    company: str = Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9]+$")
    invoice_number: str = Field(min_length=1, max_length=50)
    amount: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)


class FindingOut(BaseModel):
    code: str
    severity: Literal["error", "warning"]
    field: str
    message: str


class Level3CheckOut(BaseModel):
    """``status``: ok, warnings, or blocked (an error under ``level3.on_failure: block``)."""

    status: str
    amount: str
    findings: list[FindingOut]
    line_items: int
    data: dict[str, Any]


@router.post("/check", response_model=Level3CheckOut, responses=AUTH_RESPONSES)
async def check_level3(
    body: Level3CheckIn,
    request: Request,
    _: Annotated[Principal, Depends(require_role("viewer"))],
) -> Level3CheckOut:
    """The Level 2/3 pre-flight of an invoice sale, as a charge would meet it now."""
    charges: ChargeService = request.app.state.charges
    checked, amount = await charges.level3_check(body.company, body.invoice_number, body.amount)
    data = checked.data
    return Level3CheckOut(
        status=checked.status, amount=format(amount, "f"),
        findings=[FindingOut(**f.__dict__) for f in checked.findings],
        line_items=len(data.lines),
        data={"po_number": data.po_number, "tax": None if data.tax is None else format(data.tax, "f"),
              "freight": format(data.freight, "f"), "duty": format(data.duty, "f"),
              "discount": format(data.discount, "f"), "lines_total": format(data.lines_total, "f")},
    )  # fmt: skip
