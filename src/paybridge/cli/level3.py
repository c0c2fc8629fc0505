"""`paybridge level3 check`: the Level 2/3 pre-flight an invoice sale would meet now.

Prints each finding (severity, field, message); exit 0 when none is an error, 1 otherwise, 2
for bad input. Nothing is recorded or sent (a charge records its own findings).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from paybridge.cli.common import ConfigOption, friendly, out, settings_from
from paybridge.errors import DataError

level3_app = typer.Typer(help="Level 2/3 data of D365 invoices.", no_args_is_help=True)


@level3_app.command("check")
@friendly
def check(
    invoice: Annotated[str, typer.Option("--invoice", help="D365 invoice number.")],
    company: Annotated[
        str | None, typer.Option("--company", help="D365 legal entity; default dynamics.company.")
    ] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Amount to check against; default: what is open.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check an invoice's Level 2/3 data (PO, tax, lines, freight, duty) against an amount."""
    from paybridge.app.engine import build_engine

    settings = settings_from(config)
    try:
        value = None if amount is None else Decimal(amount)
    except InvalidOperation:
        raise DataError("bad amount", fields={"--amount": "not a decimal number"}) from None

    async def main() -> int:
        engine = build_engine(settings)
        try:
            checked, charged = await engine.charges.level3_check(
                company or settings.dynamics.company, invoice, value
            )
        finally:
            await engine.aclose()
        out.print(f"{invoice}: {checked.status} for {charged:f} "
                  f"({len(checked.data.lines)} line items)", markup=False, highlight=False)  # fmt: skip
        for f in checked.findings:
            out.print(f"  {f.severity}: {f.field}: {f.message} [{f.code}]", markup=False,
                      highlight=False)  # fmt: skip
        return 1 if any(f.severity == "error" for f in checked.findings) else 0

    code = asyncio.run(main())
    if code:
        raise typer.Exit(code)
