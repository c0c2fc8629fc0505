"""`paybridge customers card-link`: a card-on-file link for a D365 customer, as the API issues it.

PayTrace makes no profile without a card; the link opens a page with PayTrace Protect's fields,
where the customer puts one on file (see ``paybridge.customers.card_links``). Every link issued is
an audit row ``card_request.create`` by ``cli:<user>``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from paybridge.cli.common import ConfigOption, audit_cli, friendly, out, settings_from

customers_app = typer.Typer(help="D365 customers and their cards on file.", no_args_is_help=True)


@customers_app.command("card-link")
@friendly
def card_link(
    account: Annotated[str, typer.Option("--account", help="D365 customer account, e.g. US-004.")],
    company: Annotated[
        str | None, typer.Option("--company", help="D365 legal entity; default dynamics.company.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print a signed, expiring link where the customer puts a card on file (PayTrace Protect)."""
    from paybridge.app.engine import build_engine

    settings = settings_from(config)

    async def main() -> None:
        engine = build_engine(settings)
        try:
            cards = engine.cards
            link = await cards.issue(company or settings.dynamics.company, account)
            audit_cli(
                engine.security.audit, "card_request.create",
                f"customer:{link.company}/{link.account}",
                link=link.nonce, expires_at=link.expires_at.isoformat(),
            )  # fmt: skip
            out.print(cards.url(link), markup=False, highlight=False, soft_wrap=True)
            written = (
                f"; written to {cards.settings.link_field}" if cards.settings.link_field else ""
            )
            out.print(
                f"for {link.company}/{link.account}, once, until "
                f"{link.expires_at:%Y-%m-%d %H:%M} UTC{written}",
                markup=False, highlight=False,
            )  # fmt: skip
        finally:
            await engine.aclose()

    asyncio.run(main())
