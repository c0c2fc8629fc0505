"""`paybridge subscriptions add|list|show|pause|resume|cancel`: recurring billing kept in the store.

Bad input exits 2 and names the option; amounts are parsed as Decimal, never float. Every change,
and every change refused, is an audit row ``subscription.<verb>`` by ``cli:<user>``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.table import Table

from paybridge.app.settings import Settings
from paybridge.billing.store import SubscriptionStore
from paybridge.billing.subscriptions import (
    NewSubscription,
    Schedule,
    Subscription,
    SubscriptionStatus,
    parse_frequency,
    reference_prefix,
)
from paybridge.cli.common import (
    ConfigOption,
    audit_cli,
    audit_log,
    err,
    friendly,
    out,
    settings_from,
    store_of,
)
from paybridge.clock import SystemClock
from paybridge.errors import DataError
from paybridge.model import Money
from paybridge.security.audit import AuditLog

subscriptions_app = typer.Typer(
    help="Recurring billing: subscriptions charged on PayTrace's frequencies, with dunning.",
    no_args_is_help=True,
)
# Store-side field names as the options a person typed.
_OPTIONS = {"d365": "--d365", "amount": "--amount", "currency": "--currency", "id": "ID"}

IdArgument = Annotated[int, typer.Argument(help="Subscription id (see `subscriptions list`).")]


def _invalid(exc: DataError) -> typer.Exit:
    for name, problem in sorted(exc.fields.items()) or [("input", exc.message)]:
        err.print(f"[red]error:[/red] {_OPTIONS.get(name, name)}: {problem}", highlight=False)
    return typer.Exit(2)


def _open(config: Any) -> tuple[SubscriptionStore, Settings]:
    store, settings, _audit = _open_audited(config)
    return store, settings


def _open_audited(config: Any) -> tuple[SubscriptionStore, Settings, AuditLog]:

    settings = settings_from(config)
    clock = SystemClock()
    store = store_of(settings, clock)
    subscriptions = SubscriptionStore(store.engine, clock, store.xref)
    return subscriptions, settings, audit_log(settings, store.engine)


def _audit_refusal(audit: AuditLog, action: str, target: str, exc: DataError) -> None:
    audit_cli(audit, action, target, outcome="invalid", why=exc.message, fields=dict(exc.fields))


def _today(settings: Settings) -> date:
    billing = getattr(settings, "billing", None)
    zone = billing.timezone if billing is not None else settings.paytrace.timezone
    return SystemClock().now().astimezone(ZoneInfo(zone)).date()


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DataError("bad date", fields={option: f"{text!r} is not a YYYY-MM-DD date"}) from None


def _money(amount: str, currency: str, account_currency: str) -> Money:
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise DataError("bad amount", fields={"--amount": "not a decimal number"}) from None
    if not value.is_finite():
        raise DataError("bad amount", fields={"--amount": "not a finite number"})
    try:
        money = Money.of(value, currency)
    except ValidationError:
        raise DataError("bad currency", fields={"--currency": "not an ISO 4217 code"}) from None
    if money.currency != account_currency.upper():
        raise DataError(
            "currency", fields={"--currency": f"the PayTrace account charges in {account_currency}"}
        )
    return money


def _schedule(frequency: str, start: str, count: int | None, end: str | None) -> Schedule:
    try:
        freq = parse_frequency(frequency)
    except ValueError as exc:
        raise DataError("bad frequency", fields={"--frequency": str(exc)}) from None
    first = _day(start, "--start")
    assert first is not None
    try:
        return Schedule(frequency=freq, start=first, count=count, end=_day(end, "--end"))
    except ValidationError as exc:
        raise DataError(
            "bad schedule",
            fields={"--count/--end": exc.errors()[0]["msg"].removeprefix("Value error, ")},
        ) from None


def _describe(sub: Subscription) -> str:
    s = sub.schedule
    until = f", {s.count} periods" if s.count else (f" until {s.end}" if s.end else "")
    nxt = s.period(sub.next_index)
    return (
        f"subscription {sub.id}: {sub.amount.amount} {sub.amount.currency} {s.frequency.value} "
        f"from {s.start}{until}; PayTrace customer {sub.customer_id} -> D365 {sub.d365}; "
        f"{sub.status.value}; next period {nxt or 'none'}"
    )


@subscriptions_app.command("add")
@friendly
def add(
    customer: Annotated[str, typer.Option("--customer", help="PayTrace customer (vault) id.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount per period, e.g. 19.99.")],
    start: Annotated[str, typer.Option("--start", help="First period, YYYY-MM-DD.")],
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 code (default: PayTrace's).")
    ] = None,
    frequency: Annotated[
        str,
        typer.Option(
            "--frequency",
            help="annually, semi-annually, trimesterly, quarterly, "
            "bi-monthly, monthly, bi-weekly, 1st-and-15th, weekly or daily.",
        ),
    ] = "monthly",
    count: Annotated[int | None, typer.Option("--count", min=1, help="Number of periods.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day, YYYY-MM-DD.")] = None,
    d365: Annotated[
        str | None, typer.Option("--d365", help="D365 company/account (default: the xref link).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--d365-reference", help="D365 sales agreement or custom field.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="paybridge charges; paytrace = PayTrace's recurring "
            "engine charges and PayBridge links its charges.",
        ),
    ] = "paybridge",
    config: ConfigOption = None,
) -> None:
    """Add a subscription (charged by the scheduler's billing run)."""
    store, settings, audit = _open_audited(config)
    try:
        new = NewSubscription(
            customer_id=customer.strip(), d365=d365, d365_reference=reference, engine=engine,
            amount=_money(amount, currency or settings.paytrace.currency, settings.paytrace.currency),
            schedule=_schedule(frequency, start, count, end),
        )  # fmt: skip
        sub = store.add(new)
    except DataError as exc:
        _audit_refusal(audit, "subscription.create", f"customer:{customer.strip()}", exc)
        raise _invalid(exc) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = f"--{str(first['loc'][0]).replace('_', '-')}" if first["loc"] else "input"
        refused = DataError("invalid", fields={name: first["msg"]})
        _audit_refusal(audit, "subscription.create", f"customer:{customer.strip()}", refused)
        raise _invalid(refused) from None
    audit_cli(
        audit, "subscription.create", f"subscription:{sub.id}", customer=sub.customer_id,
        amount=str(sub.amount.amount), currency=sub.amount.currency,
        frequency=sub.schedule.frequency.value, start=sub.schedule.start.isoformat(),
        d365=sub.d365, engine=sub.engine,
    )  # fmt: skip
    out.print(_describe(sub), highlight=False)
    due = sub.schedule.due(0, _today(settings))
    if due and sub.engine == "paybridge":
        out.print(f"{len(due)} period(s) are already due and will be charged at the next run")
    if sub.engine == "paytrace":
        out.print(f"give the PayTrace recurring payment the description {reference_prefix(sub.id)}")


def _row(sub: Subscription) -> dict[str, Any]:
    nxt = sub.schedule.period(sub.next_index)
    return {
        "id": sub.id, "customer": sub.customer_id, "amount": str(sub.amount.amount),
        "currency": sub.amount.currency, "frequency": sub.schedule.frequency.value,
        "next_period": nxt.isoformat() if nxt else None, "status": sub.status.value,
        "d365": sub.d365, "hold": sub.hold, "last_reason": sub.last_reason,
    }  # fmt: skip


@subscriptions_app.command("list")
@friendly
def list_(
    status: Annotated[
        SubscriptionStatus | None, typer.Option("--status", help="Only this status.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """List subscriptions."""
    store, _settings = _open(config)
    rows = [_row(sub) for sub in store.all(status)]
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table("ID", "Customer", "Amount", "Frequency", "Next", "Status", "D365", "Last reason")
    for r in rows:
        table.add_row(
            str(r["id"]), r["customer"], f"{r['amount']} {r['currency']}", r["frequency"],
            r["next_period"] or "-", r["status"], r["d365"], r["last_reason"] or "",
        )  # fmt: skip
    out.print(table)


@subscriptions_app.command("show")
@friendly
def show(subscription_id: IdArgument, config: ConfigOption = None) -> None:
    """One subscription and its charges (attempts, outcome, decline reasons)."""
    store, _settings = _open(config)
    try:
        sub = store.require(subscription_id)
    except DataError as exc:
        raise _invalid(exc) from None
    out.print(_describe(sub), highlight=False)
    table = Table("Period", "Amount", "Status", "Attempts", "Transaction", "Next try", "Reason")
    for c in store.charges(sub.id):
        retry = c.next_attempt_at if c.status.value in ("due", "retrying") else None
        table.add_row(
            c.period.isoformat(), str(c.amount.amount), c.status.value, str(c.attempts),
            c.transaction_id or "", _when(retry), c.last_reason or "",
        )  # fmt: skip
    out.print(table)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="minutes") if moment else ""


_ACTIONS = {"paused": "pause", "resumed": "resume", "cancelled": "cancel"}


def _change(subscription_id: int, config: Any, verb: str) -> None:
    store, settings, audit = _open_audited(config)
    action, target = f"subscription.{_ACTIONS[verb]}", f"subscription:{subscription_id}"
    try:
        if verb == "paused":
            sub = store.pause(subscription_id)
        elif verb == "resumed":
            sub = store.resume(subscription_id, _today(settings))
        else:
            sub = store.cancel(subscription_id)
    except DataError as exc:
        _audit_refusal(audit, action, target, exc)
        raise _invalid(exc) from None
    audit_cli(audit, action, target, status=sub.status.value, customer=sub.customer_id)
    out.print(f"subscription {sub.id} {verb}: {_describe(sub)}", highlight=False)


@subscriptions_app.command("pause")
@friendly
def pause(subscription_id: IdArgument, config: ConfigOption = None) -> None:
    """Stop charging (open retries wait too) until resumed."""
    _change(subscription_id, config, "paused")


@subscriptions_app.command("resume")
@friendly
def resume(subscription_id: IdArgument, config: ConfigOption = None) -> None:
    """Charge again; periods that fell in the pause are skipped."""
    _change(subscription_id, config, "resumed")


@subscriptions_app.command("cancel")
@friendly
def cancel(subscription_id: IdArgument, config: ConfigOption = None) -> None:
    """Stop for good; open retries are cancelled (a D365 hold stays until paid or lifted)."""
    _change(subscription_id, config, "cancelled")
