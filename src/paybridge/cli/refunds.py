"""`paybridge refunds list|approve|reject`: the refund requests of credit notes, decided from a shell.

The same desk as ``/v1/refunds``: an approval by ``cli:<user>`` is refused for the user who
requested the refund (maker-checker); every decision is an audit row (``refund.approve``,
``refund.reject``) written by the desk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from paybridge.cli.common import ConfigOption, cli_actor, friendly, out, settings_from

T = TypeVar("T")


def _with_engine(config: ConfigOption, use: Callable[..., T]) -> T:
    """Build the engine as serve does, use it, and close its clients."""
    from paybridge.app.engine import build_engine

    engine = build_engine(settings_from(config))
    try:
        return use(engine)
    finally:
        asyncio.run(engine.aclose())


refunds_app = typer.Typer(
    help="Refunds from credit notes and their approvals.", no_args_is_help=True
)


@refunds_app.command("list")
@friendly
def list_refunds(
    status: Annotated[str | None, typer.Option("--status", help="e.g. awaiting_approval.")] = None,
    config: ConfigOption = None,
) -> None:
    """Refund requests, oldest first, with their state and who decided them."""
    for r in _with_engine(config, lambda e: e.orders.refunds.listing(status)):
        parts = ", ".join(f"{t}: {a}" for t, a in r.parts or ())
        out.print(
            f"{r.request_id}  {r.status}  {r.amount} {r.currency}  order {r.order_number}  "
            f"requested by {r.requested_by}  decided by {r.decided_by or '-'}  [{parts}]",
            markup=False, highlight=False,
        )  # fmt: skip


@refunds_app.command("approve")
@friendly
def approve(request_id: str, config: ConfigOption = None) -> None:
    """Approve a refund waiting for a second person; it is sent by the next worker."""
    decision = _with_engine(config, lambda e: e.orders.refunds.approve(request_id, cli_actor()))
    out.print(f"{request_id}: {decision.request.status} by {cli_actor()}", markup=False)


@refunds_app.command("reject")
@friendly
def reject(
    request_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why, in words (audited).")],
    config: ConfigOption = None,
) -> None:
    """Reject a refund waiting for approval: nothing is sent."""
    decision = _with_engine(
        config, lambda e: e.orders.refunds.reject(request_id, cli_actor(), reason)
    )
    out.print(f"{request_id}: {decision.request.status} by {cli_actor()}", markup=False)
