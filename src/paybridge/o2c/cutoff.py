"""Posting the day's payment journals at the cut-off, exactly once (the accountant may also post them)."""

from __future__ import annotations

import logging
from datetime import date, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient, F, Query
from paybridge.errors import InDoubtError, PayBridgeError
from paybridge.keys import HEADER_STEP, LINE_STEP
from paybridge.keys import JOURNAL_POST_STEP as POST_STEP
from paybridge.o2c.journals import (
    HEADERS,
    LINES,
    JournalBook,
)
from paybridge.runtime.intents import DONE, Intent, IntentStore
from paybridge.runtime.ledger import Ledger

log = logging.getLogger(__name__)


async def post_journal(
    d365: DynamicsClient, intents: IntentStore, service: str, company: str, journal: str
) -> str:
    """Post one journal through the configured JSON service, exactly once (find: IsPosted)."""
    group, name, operation = service.split("/")
    intent = intents.plan(
        f"post:{company}:{journal}", POST_STEP, "d365", journal, {"company": company}
    )

    async def send() -> dict[str, Any]:
        reply = await d365.call_service(
            group, name, operation, {"dataAreaId": company, "JournalBatchNumber": journal},
            reference=journal,
        )  # fmt: skip
        settled = reply.get("SettledInvoices", []) if isinstance(reply, dict) else []
        return {"posted": "now", "settled_invoices": len(settled)}

    async def find() -> dict[str, Any] | None:
        row = await d365.get(
            HEADERS, {"dataAreaId": company, "JournalBatchNumber": journal},
            select=["IsPosted"], cross_company=True,
        )  # fmt: skip
        return {"posted": "found"} if row is not None and row.get("IsPosted") == "Yes" else None

    try:
        resolution = await intents.execute_once(intent, send, find)
    except InDoubtError:
        return "in doubt"
    return str(resolution.detail.get("posted", resolution.how))


class JournalPostingJob:
    """The optional cut-off: each day's journals are posted once the local time passes ``post_at``.

    Closing a journal's generation first sends later lines of the same day to a new journal; a
    journal with no line yet stays open (late lines of a past day would otherwise open and
    close a journal each round). A journal that PayBridge still has lines headed to (planned
    or sent in the last ``in_flight_seconds``, a worker's lease) is posted at a later round,
    once they have landed; a line that still reaches a posted journal is refused by D365,
    re-planned into the next one and sent again at once (``LineWriter``)."""

    def __init__(
        self,
        d365: DynamicsClient,
        intents: IntentStore,
        ledger: Ledger,
        book: JournalBook,
        *,
        post_at: str,
        service: str,
        timezone: str,
        clock: Clock,
        in_flight_seconds: float = 120.0,
    ) -> None:
        self.d365 = d365
        self.intents = intents
        self.bulk = intents
        self.ledger = ledger
        self.book = book
        self.cutoff = time.fromisoformat(post_at)
        self.service = service
        self.zone = ZoneInfo(timezone)
        self.clock = clock
        self.in_flight = timedelta(seconds=in_flight_seconds)

    def due(self) -> list[tuple[str, date, int, str]]:
        """(company, day, generation, journal) of created journals past their cut-off, unposted."""
        local = self.clock.now().astimezone(self.zone)
        out = []
        for header in self.bulk.by_step(HEADER_STEP, DONE):
            company, day, generation = _header_of(header)
            if day > local.date() or (day == local.date() and local.time() < self.cutoff):
                continue
            journal = str(header.detail["JournalBatchNumber"])
            posted = self.intents.get(f"post:{company}:{journal}", POST_STEP)
            if posted is None or posted.status != DONE:
                out.append((company, day, generation, journal))
        return sorted(out, key=lambda d: (d[1], d[0], d[2]))

    async def run(self) -> str:
        done: list[str] = []
        waiting: list[str] = []
        for company, day, generation, journal in self.due():
            lines = await self.d365.count(
                LINES,
                Query(filter=(F("JournalBatchNumber") == journal) & (F("dataAreaId") == company),
                      cross_company=True),
            )  # fmt: skip
            if lines == 0:
                continue  # no line yet (or every one removed): nothing to post, it stays open
            self.book.close(company, day, generation)
            if self._headed_to(company, journal):
                waiting.append(f"{company}/{journal}")
                continue  # lines still on their way: posted once they have landed
            try:
                how = await post_journal(self.d365, self.intents, self.service, company, journal)
            except PayBridgeError as exc:
                log.warning("posting journal %s/%s failed: %s", company, journal, exc)
                self._record(company, journal, "failed", str(exc))
                continue
            self._record(company, journal, "posted", how)
            done.append(f"{company}/{journal}")
        said = f"posted {len(done)} journal(s): {', '.join(done)}" if done else "nothing to post"
        return said + (f"; waiting for lines headed to {', '.join(waiting)}" if waiting else "")

    def _headed_to(self, company: str, journal: str) -> bool:
        """Whether PayBridge has a line planned or sent to ``journal`` lately (a worker's
        lease): one still on its way lands before the journal is posted."""
        for intent in self.intents.unfinished(LINE_STEP, self.clock.now() - self.in_flight):
            body = intent.detail.get("body")
            if (
                isinstance(body, dict)
                and str(body.get("JournalBatchNumber")) == journal
                and str(body.get("dataAreaId", "")).lower() == company.lower()
            ):
                return True
        return False

    def _record(self, company: str, journal: str, status: str, how: str) -> None:
        self.ledger.record(
            f"post:{company}:{journal}", POST_STEP, system="d365", entity=HEADERS,
            entity_id=f"{company}/{journal}", status=status, detail={"how": how},
        )  # fmt: skip


def _header_of(header: Intent) -> tuple[str, date, int]:
    """(company, day, generation) from ``journal:<company>:<name>:<day>[:<generation>]``."""
    parts = header.event_key.split(":")
    generation = int(parts[4]) if len(parts) > 4 else 1
    return parts[1], date.fromisoformat(parts[3]), generation
