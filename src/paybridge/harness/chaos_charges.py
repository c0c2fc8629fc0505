"""The chaos run's charging customers: D365 invoices charged through `paybridge serve`'s
/v1/charges and through `paybridge charge` processes, and subscriptions added with
`paybridge subscriptions add` that the workers' billing run charges.

A caller that retries with the same ``Idempotency-Key`` until it hears a final answer (approved,
declined, refused), as the API asks. PayTrace is scripted to commit the first sales of this phase
and then lose or garble the answer (a 5xx in JSON or HTML, a dropped connection), so a build that
resends a sale after such an answer charges twice, and the run says so.

The checks, read from PayTrace's own export: a key that produced two approved PayTrace sales is a
double charge; an answer "approved" without its PayTrace sale, or "declined"/"refused" while
PayTrace holds an approved sale for the key, is a wrong outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from paybridge.connectors.paytrace import TransactionRecord

# Seeded D365 invoices of usmf and their customers (profiles the chaos run opens in PayTrace).
INVOICES = {
    "CIV-000101": "US-001",
    "CIV-000102": "US-002",
    "CIV-000103": "US-003",
    "CIV-000104": "US-004",
    "CIV-000105": "US-005",
}
SALE_PATH = "/v1/transactions/sale/by_customer"
# Scripted at the start of the phase: each makes a sale happen whose answer the client never gets.
AFTER_COMMIT = ("commit_then_error_json", "commit_then_drop", "commit_then_error_html")
FINAL = {201: "approved", 402: "declined", 422: "refused"}


@dataclass
class ApiCharges:
    """Charges through the product's API, each retried with its key until its outcome is final."""

    base: str
    token: str
    rng: random.Random
    deadline_seconds: float = 120.0
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    retries: int = 0

    async def run(self, count: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            for n in range(count):
                invoice = self.rng.choice(sorted(INVOICES))
                amount = Decimal(self.rng.randint(100, 999)).scaleb(-2)
                key = f"chaos-api-{n:04d}"
                body = {"company": "usmf", "invoice_number": invoice, "amount": str(amount)}
                self.answers[key] = await self._charge(http, key, body)

    async def _charge(
        self, http: httpx.AsyncClient, key: str, body: dict[str, str]
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        started = time.monotonic()
        while time.monotonic() - started < self.deadline_seconds:
            with contextlib.suppress(httpx.HTTPError):
                reply = await http.post("/v1/charges", json=body, headers=headers)
                if reply.status_code in FINAL:
                    answer = reply.json() if reply.status_code != 422 else {}
                    return {"status": FINAL[reply.status_code], **answer, "request": body}
            self.retries += 1  # 202 in doubt, 409 in progress, 5xx, or no answer: same key again
            await asyncio.sleep(0.3)
        return {"status": "unresolved", "request": body}


@dataclass
class CliCharges:
    """Charges through ``paybridge charge`` processes, each run again with its ``--key`` until
    it prints a final answer (approved, declined, or refused with exit code 2), as the command's
    own words ask after an answer in doubt."""

    binary: Path
    config: Path
    env: dict[str, str]
    rng: random.Random
    deadline_seconds: float = 120.0
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    retries: int = 0

    async def run(self, count: int) -> None:
        for n in range(count):
            invoice = self.rng.choice(sorted(INVOICES))
            amount = Decimal(self.rng.randint(100, 999)).scaleb(-2)
            key = f"chaos-cli-{n:04d}"
            body = {"company": "usmf", "invoice_number": invoice, "amount": str(amount)}
            self.answers[key] = await self._charge(key, body)

    async def _charge(self, key: str, body: dict[str, str]) -> dict[str, Any]:
        args = (
            "charge", "--company", body["company"], "--invoice", body["invoice_number"],
            "--amount", body["amount"], "--key", key, "--config", str(self.config),
        )  # fmt: skip
        started = time.monotonic()
        while time.monotonic() - started < self.deadline_seconds:
            code, said = await _run(self.binary, self.env, *args)
            found = _TRANSACTION.search(said)
            tid = found.group(1) if found else None
            if code == 0 and said.startswith("approved:"):
                return {"status": "approved", "transaction_id": tid, "request": body}
            if code == 1 and said.startswith("declined:"):
                return {"status": "declined", "transaction_id": tid, "request": body}
            if code == 2:
                return {"status": "refused", "request": body, "said": said[-300:]}
            self.retries += 1  # in doubt, or an error on the way: the same key again
            await asyncio.sleep(0.3)
        return {"status": "unresolved", "request": body}


_TRANSACTION = re.compile(r"PayTrace transaction (\d+)")

# A subscription period's charge in the store: (key, status, PayTrace transaction id).
PeriodCharge = tuple[str, str, str | None]
# What the billing run's period statuses say to the chaos checks (due: not decided yet).
_BILLED = {"approved": "approved", "retrying": "declined", "failed": "declined"}
_ADDED = re.compile(r"subscription (\d+):")


@dataclass
class BillingCharges:
    """Daily subscriptions of one period, starting today, added by ``paybridge subscriptions
    add``: the workers' billing run charges each period once (its key, ``sub:<id>:<day>``, is the
    sale's whole description), through the same after-commit faults as the other charges."""

    binary: Path
    config: Path
    env: dict[str, str]
    rng: random.Random
    read: Callable[[list[int]], Awaitable[list[PeriodCharge]]]
    deadline_seconds: float = 120.0
    added: list[int] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def run(self, profiles: list[str], count: int, today: date) -> None:
        for _ in range(count):
            amount = Decimal(self.rng.randint(100, 999)).scaleb(-2)
            said = await _cli(
                self.binary, self.env, "subscriptions", "add", "--customer",
                self.rng.choice(profiles), "--amount", str(amount), "--start", today.isoformat(),
                "--frequency", "daily", "--count", "1", "--config", str(self.config),
            )  # fmt: skip
            found = _ADDED.search(said)
            if found is None:
                raise RuntimeError(f"paybridge subscriptions add said: {said[-300:]}")
            self.added.append(int(found.group(1)))
        await self._until_decided()

    async def _until_decided(self) -> None:
        started = time.monotonic()
        while True:
            charges = await self.read(self.added)
            decided = [c for c in charges if c[1] in _BILLED]
            late = time.monotonic() - started > self.deadline_seconds
            if len(decided) >= len(self.added) or late:
                break
            await asyncio.sleep(1.0)
        for key, status, transaction_id in charges:
            self.answers[key] = {
                "status": _BILLED.get(status, "unresolved"),
                "transaction_id": transaction_id, "reference": key,
            }  # fmt: skip
        billed = {int(key.split(":")[1]) for key, _, _ in charges}
        for missing in sorted(set(self.added) - billed):  # never charged at all
            self.answers[f"sub:{missing}:none"] = {"status": "unresolved", "reference": "-"}


async def prepare(config: Path, binary: Path, env: dict[str, str]) -> str:
    """An operator key for the API (``paybridge keys create``). The invoices' customers are
    linked to their PayTrace profiles by the run (``chaos_setup.link_profiles``)."""
    created = await _cli(
        binary, env, "keys", "create", "--role", "operator", "--config", str(config)
    )
    return created.strip().splitlines()[-1].strip()


async def _cli(binary: Path, env: dict[str, str], *args: str) -> str:
    code, said = await _run(binary, env, *args)
    if code != 0:
        raise RuntimeError(f"paybridge {' '.join(args[:2])} failed: {said[-500:]}")
    return said


async def _run(binary: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """A ``paybridge`` command: its exit code and what it printed (stdout, then stderr)."""
    proc = await asyncio.create_subprocess_exec(
        str(binary / "paybridge"), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    code = proc.returncode if proc.returncode is not None else -1
    return code, out.decode() if code == 0 else out.decode() + err.decode()


def _is_approved_sale(record: TransactionRecord) -> bool:
    status = f"{record.status_code} {record.status_message}".lower()
    return (
        record.transaction_type.upper() == "SALE"
        and "declin" not in status
        and "void" not in status
    )


@dataclass(frozen=True)
class ChargeCheck:
    double_charges: int
    wrong_outcomes: int
    unresolved: int


def check(answers: dict[str, dict[str, Any]], records: list[TransactionRecord]) -> ChargeCheck:
    """Each key: at most one PayTrace sale, and the final answer (the API's, the command's, the
    billing run's) says what PayTrace did."""
    double = wrong = unresolved = 0
    for key, answer in answers.items():
        reference = answer.get("reference") or f"PayBridge charge {key}"
        sales = [
            r for r in records
            if (r.description == reference or r.description.startswith(reference + " "))
            and _is_approved_sale(r)
        ]  # fmt: skip
        double += max(0, len(sales) - 1)
        status = answer["status"]
        if status == "unresolved":
            unresolved += 1
        elif status == "approved":
            ids = {str(r.transaction_id) for r in sales}
            wrong += int(str(answer.get("transaction_id")) not in ids)
        elif sales:  # declined or refused, yet PayTrace charged the card
            wrong += 1
    return ChargeCheck(double, wrong, unresolved)


async def script_after_commit_faults(paytrace: str) -> None:
    async with httpx.AsyncClient(timeout=120) as client:  # a loaded sandbox answers late
        script = [{"fault": kind, "path": SALE_PATH, "times": 1} for kind in AFTER_COMMIT]
        reply = await client.post(f"{paytrace}/_sandbox/faults", json={"script": script})
        reply.raise_for_status()
