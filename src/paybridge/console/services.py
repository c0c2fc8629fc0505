"""What the web console reads and does, handed to it by ``paybridge.app``: read models, lineage,
and the triage desk.

The console builds nothing itself. Dead-letter triage goes through the queue's own triage and
replay (the services ``paybridge dlq`` uses) and the cross-reference ``paybridge xref link``
writes; every change is an audit row naming the signed-in actor and the browser's address.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from paybridge.console.designer import MappingDesk
from paybridge.console.lineage import Lineage, lineage_of
from paybridge.errors import DataError
from paybridge.keys import CUSTOMER_XREF
from paybridge.ops.activity import Activity
from paybridge.ops.figures import StoreFigures
from paybridge.ops.payments import PaymentIndex
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.queue import TRIAGE_STATES, SqlQueue
from paybridge.security.cardguard import redact
from paybridge.security.context import SecurityContext
from paybridge.security.ratelimit import RateLimiter

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+")
MAX_BULK = 10_000


def reason_group(reason: str | None) -> str:
    """A dead letter's reason with its ids left out, so like reasons group together."""
    text = _QUOTED.sub("'…'", reason or "(no reason)")
    return _NUMBER.sub("N", text)[:300]


@dataclass(frozen=True)
class ReasonGroup:
    reason: str
    count: int
    example_id: int


class Triage:
    """Dead letters grouped, shown and acted on; each action audited as ``actor`` from ``client``."""

    def __init__(self, queue: SqlQueue, xref: Xref, security: SecurityContext) -> None:
        self.queue = queue
        self.xref = xref
        self.security = security

    def overview(
        self, state: str, group: str = "", limit: int = 200
    ) -> tuple[list[ReasonGroup], list[dict[str, Any]]]:
        """The dead letters in ``state`` grouped by reason, and those of ``group`` (all: "")."""
        rows = self.queue.dead_letter_summaries(_state(state), MAX_BULK)
        counts: Counter[str] = Counter()
        first: dict[str, int] = {}
        chosen = []
        for row in rows:
            reason = reason_group(row["dead_reason"])
            counts[reason] += 1
            first.setdefault(reason, int(row["id"]))
            if not group or reason == group:
                chosen.append(row)
        groups = [ReasonGroup(r, n, first[r]) for r, n in counts.most_common()]
        return groups, chosen[:limit]

    def letter(self, message_id: int) -> dict[str, Any] | None:
        row = self.queue.dead_letter(message_id)
        if row is None:
            return None
        payload = redact(json.loads(row["payload"]))
        customer = payload.get("customer_id") if isinstance(payload, dict) else None
        link = self.xref.get(CUSTOMER_XREF, str(customer)) if customer else None
        return {
            **row, "payload": payload, "history": self.queue.history(message_id),
            "customer_id": customer, "customer_link": link,
        }  # fmt: skip

    def act(
        self, message_id: int, action: str, actor: str, client: str, *,
        comment: str | None = None, assignee: str | None = None,
    ) -> dict[str, Any] | None:  # fmt: skip
        row = self.queue.triage(message_id, action, actor, comment=comment, assignee=assignee)
        self._audit(
            actor, client, f"dlq.{action}", f"dlq:{message_id}", "ok" if row else "not_found",
            comment=comment, assignee=assignee,
            **({"key": row["key"], "state": row["triage_state"]} if row else {}),
        )  # fmt: skip
        return row

    def replay(self, ids: list[int], actor: str, client: str, *, target: str,
               comment: str | None = None, match: str | None = None) -> list[int]:  # fmt: skip
        done = [i for i in ids if self.queue.replay(i, actor=actor, comment=comment)]
        self._audit(
            actor, client, "dlq.replay", target, "ok" if done else "not_found",
            match=match, replayed=len(done), ids=done[:200], comment=comment,
        )  # fmt: skip
        return done

    def replay_group(
        self, group: str, actor: str, client: str, comment: str | None = None
    ) -> list[int]:
        ids = [int(r["id"]) for r in self.overview("open", group, limit=MAX_BULK)[1]]
        return self.replay(ids, actor, client, target="dlq:group", comment=comment, match=group)

    def link_and_replay(
        self, message_id: int, d365_customer: str, actor: str, client: str,
        comment: str | None = None,
    ) -> bool:  # fmt: skip
        """Edit and retry: link the dead payment's PayTrace customer to ``company/account``
        (what ``paybridge xref link`` does), then replay the message."""
        letter = self.letter(message_id)
        if letter is None:
            return False
        customer = letter["customer_id"]
        if not customer:
            raise DataError(
                "this dead letter names no PayTrace customer", fields={"customer": "none"}
            )
        company, slash, account = d365_customer.strip().partition("/")
        if not slash or not company.strip() or not account.strip():
            raise DataError(
                "write the D365 customer as company/account, e.g. usmf/US-001",
                fields={"d365_customer": "company/account"},
            )
        target = f"{company.strip().lower()}/{account.strip()}"
        previous = self.xref.get(CUSTOMER_XREF, customer)
        self.xref.link(CUSTOMER_XREF, customer, target)
        self._audit(actor, client, "xref.link", f"{CUSTOMER_XREF}:{customer}", "ok",
                    d365=target, previous=previous, dlq=message_id)  # fmt: skip
        note = comment or f"linked {customer} to {target}"
        return bool(
            self.replay([message_id], actor, client, target=f"dlq:{message_id}", comment=note)
        )

    def _audit(
        self, actor: str, client: str, action: str, target: str, outcome: str, **detail: Any
    ) -> None:
        self.security.audit.record(
            actor=actor, action=action, target=target, client=client, outcome=outcome,
            detail={k: v for k, v in detail.items() if v is not None},
        )  # fmt: skip


def _state(state: str) -> str | None:
    if state == "all":
        return None
    if state not in TRIAGE_STATES:
        raise DataError("state is open, resolved, ignored or all", fields={"state": state})
    return state


@dataclass(frozen=True)
class SettingRow:
    """One effective setting as the admin page shows it: a secret only as its reference."""

    name: str  # dotted, e.g. o2c.missing_customer
    value: str
    origin: str  # "file <path>", "env PAYBRIDGE__...", "default"
    secret: bool = False


@dataclass
class ConsoleServices:
    """Everything the console pages read or do, built from one engine's store and security."""

    queue: SqlQueue
    ledger: Ledger
    security: SecurityContext
    figures: StoreFigures
    activity: Activity
    payments: PaymentIndex
    triage: Triage
    merchant_zone: ZoneInfo
    stale_after_seconds: float
    d365_requests_per_second: float
    secure_cookies: bool
    # Failed sign-ins per client address: a burst of 10, then one every 6 seconds.
    signin_limiter: RateLimiter
    # D365's request limit per service-protection window for the whole installation (every
    # principal's requests) and the window: the dashboard's budget per company.
    d365_window_limit: int = 0
    d365_window_seconds: float = 300.0
    # The mapping designer (pages under /mapping); without one they are not mounted.
    designer: MappingDesk | None = None
    # Every effective setting with where it came from (the admin settings page, the flow view).
    settings: list[SettingRow] = field(default_factory=list)

    def lineage(self, transaction_id: str) -> Lineage:
        return lineage_of(self.ledger, self.queue, transaction_id)
