"""`paybridge paylink create`: a pay-by-link for an open D365 invoice, as the API issues it.

The link opens a page with the invoice's open amount and PayTrace Protect's fields (see
``paybridge.charging.paylinks``). Every link issued is an audit row ``paylink.create`` by
``cli:<user>``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from paybridge.cli.common import ConfigOption, audit_cli, friendly, out, settings_from

paylink_app = typer.Typer(help="Pay-by-link for D365 invoices.", no_args_is_help=True)


@paylink_app.command("create")
@friendly
def create(
    invoice: Annotated[
        str, typer.Option("--invoice", help="D365 invoice number, e.g. CIV-000104.")
    ],
    company: Annotated[
        str | None, typer.Option("--company", help="D365 legal entity; default dynamics.company.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print a signed, expiring link where the customer pays the invoice (PayTrace Protect)."""
    from paybridge.app.engine import build_engine

    settings = settings_from(config)

    async def main() -> None:
        engine = build_engine(settings)
        try:
            links = engine.paylinks
            link = await links.issue(company or settings.dynamics.company, invoice)
            audit_cli(
                engine.security.audit, "paylink.create", f"invoice:{link.company}/{link.invoice}",
                link=link.nonce, expires_at=link.expires_at.isoformat(),
            )  # fmt: skip
            out.print(links.url(link), markup=False, highlight=False, soft_wrap=True)
            field = links.settings.order_field
            written = f"; written to the order's {field}" if field else ""
            out.print(
                f"for invoice {link.company}/{link.invoice}, until "
                f"{link.expires_at:%Y-%m-%d %H:%M} UTC{written}",
                markup=False, highlight=False,
            )  # fmt: skip
        finally:
            await engine.aclose()

    asyncio.run(main())
