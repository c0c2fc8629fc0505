"""`paybridge charge`: charge a D365 invoice or sales order through the services, as the API does.

Exit codes: 0 approved; 1 declined or in doubt (the output says which); 2 bad input (including a
document that cannot be charged and a key used for another request). Every run, refusals
included, is an audit row ``charge.create`` by ``cli:<user>``.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from paybridge.app.settings import Settings
from paybridge.charging.service import (
    ChargeOutcome,
    ChargeRequest,
    ChargeService,
    IdempotencyConflict,
    check_key,
)
from paybridge.cli.common import (
    ConfigOption,
    audit_cli,
    audit_log,
    err,
    friendly,
    out,
    settings_from,
)
from paybridge.errors import DataError, PayBridgeError
from paybridge.security.audit import AuditLog

EXIT_CODES = {"approved": 0, "declined": 1, "in_doubt": 1}


def _request(
    invoice: str | None,
    order: str | None,
    company: str,
    amount: str | None,
    mode: str,
    tender: str = "card",
) -> ChargeRequest:
    try:
        value = None if amount is None else Decimal(amount)
    except InvalidOperation:
        raise DataError("bad amount", fields={"--amount": "not a decimal number"}) from None
    try:
        return ChargeRequest(
            company=company, invoice_number=invoice, sales_order_number=order,
            amount=value, mode=mode, tender=tender,
        )  # fmt: skip
    except ValidationError as exc:
        fields = {_option(e["loc"]): str(e["msg"]) for e in exc.errors()}
        raise DataError("invalid charge", fields=fields) from None


def _option(loc: tuple[Any, ...]) -> str:
    names = {"invoice_number": "--invoice", "sales_order_number": "--order"}
    name = str(loc[0]) if loc else ""
    return names.get(name, f"--{name}" if name else "charge")


def _describe(outcome: ChargeOutcome) -> str:
    o = outcome.outcome
    money = outcome.amount
    amount = f"{money.amount} {money.currency}" if money else "?"
    document = outcome.request.invoice_number or outcome.request.sales_order_number
    replay = " (answer of an earlier call with this key)" if outcome.replayed else ""
    if outcome.status == "approved":
        return (
            f"approved: {outcome.request.mode} of {amount} for {document}, PayTrace transaction "
            f"{outcome.transaction_id}, approval code {o.get('approval_code', '')}{replay}"
        )
    if outcome.status == "declined":
        tid = f" (PayTrace transaction {outcome.transaction_id})" if outcome.transaction_id else ""
        return f"declined: {o.get('reason', 'no reason given')}{tid}{replay}"
    return (
        f"in doubt: PayTrace did not answer; the worker looks the charge up. Run again with "
        f"--key {outcome.key} to see the outcome ({o.get('reason', '')})"
    )


def _asked(request: ChargeRequest) -> dict[str, Any]:
    """What was asked, for the audit row: the document and the money, never card data."""
    return {
        "company": request.company.lower(), "invoice": request.invoice_number,
        "order": request.sales_order_number, "mode": request.mode, "tender": request.tender,
        "amount": None if request.amount is None else format(request.amount, "f"),
    }  # fmt: skip


async def run_charge(
    service: ChargeService, request: ChargeRequest, key: str, audit: AuditLog
) -> int:
    """Charge, audit and print; the exit code."""
    target = f"charge:{key}"
    try:
        outcome = await service.charge(request, key)
    except IdempotencyConflict as exc:
        audit_cli(audit, "charge.create", target, outcome="conflict", why=exc.message,
                  **_asked(request))  # fmt: skip
        err.print(f"[red]error:[/red] --key {key}: {exc.message}", markup=False, highlight=False)
        return 2
    except PayBridgeError as exc:
        audit_cli(audit, "charge.create", target, outcome="refused", why=exc.message,
                  fields=dict(getattr(exc, "fields", {}) or {}), **_asked(request))  # fmt: skip
        raise
    audit_cli(
        audit, "charge.create", target, outcome=outcome.status,
        transaction_id=outcome.transaction_id, replayed=outcome.replayed,
        charged=str(outcome.amount.amount) if outcome.amount else None, **_asked(request),
    )  # fmt: skip
    out.print(_describe(outcome), markup=False, highlight=False)
    return EXIT_CODES.get(outcome.status, 1)


def default_key(request: ChargeRequest) -> str:
    """The key of a charge run without ``--key``: the document, amount and mode, so running the
    same command again (after a lost answer, a crash, a double click) can never charge twice.
    A second charge of the same amount on purpose needs its own ``--key``."""
    kind, number = (
        ("invoice", request.invoice_number)
        if request.invoice_number is not None
        else ("order", request.sales_order_number)
    )
    amount = format(request.amount, "f") if request.amount is not None else "open"
    key = f"cli:{request.company.lower()}:{kind}:{number}:{amount}:{request.mode}"
    if request.tender != "card":
        key += f":{request.tender}"
    try:
        return check_key(key)
    except DataError:
        raise DataError(
            "no default key for this document",
            fields={"--key": "the document number does not make a valid key; give --key"},
        ) from None


@friendly
def charge(
    company: Annotated[str, typer.Option("--company", help="D365 legal entity, e.g. usmf.")],
    invoice: Annotated[str | None, typer.Option("--invoice", help="Invoice number.")] = None,
    order: Annotated[str | None, typer.Option("--order", help="Sales order number.")] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Amount, e.g. 12.30; default: all that is open.")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="sale or authorization.")] = "sale",
    tender: Annotated[
        str, typer.Option("--tender", help="card (on file) or ach (bank account on file).")
    ] = "card",
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key; repeat it to repeat safely.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Charge a D365 invoice or sales order to its customer's PayTrace profile."""
    from paybridge.app.engine import build_engine

    settings = settings_from(config)
    try:
        request = _request(invoice, order, company, amount, mode, tender)
        key = key or default_key(request)
    except DataError as exc:
        _refused(settings, key, exc, invoice=invoice, order=order, company=company, mode=mode)
        raise
    charge_key = key

    async def main() -> int:
        engine = build_engine(settings)
        try:
            return await run_charge(engine.charges, request, charge_key, engine.security.audit)
        finally:
            await engine.aclose()

    code = asyncio.run(main())
    if code:
        raise typer.Exit(code)


def _refused(settings: Settings, key: str | None, exc: DataError, **asked: Any) -> None:
    """The audit row of a charge refused before it reached the service (bad options)."""
    from paybridge.store import open_engine

    audit_cli(
        audit_log(settings, open_engine(settings.store.url)), "charge.create",
        f"charge:{key or '-'}", outcome="invalid", why=exc.message, fields=dict(exc.fields),
        **asked,
    )  # fmt: skip
