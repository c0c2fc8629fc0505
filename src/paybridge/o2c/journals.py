"""Customer payment journals in D365: one header per company and day, lines in big $batch requests, exactly once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Any

from paybridge.connectors.dynamics import BatchOperation, ChangesetResult, DynamicsClient, F, Query
from paybridge.connectors.dynamics.error_map import NotFoundError, RecordExistsError
from paybridge.connectors.dynamics.query import encode_params
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.errors import ConfigError, DataError, FatalError, PayBridgeError, RetryableError
from paybridge.keys import HEADER_STEP, LINE_STEP
from paybridge.keys import LINE_DELETE_STEP as DELETE_STEP
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Outcome
from paybridge.runtime.intents import (
    DEFINITE_REFUSALS,
    DONE,
    PLANNED,
    Intent,
    IntentStore,
)
from paybridge.runtime.ledger import Ledger, LineageRow
from paybridge.runtime.tracing import NO_TRACING, Attributes, Tracer
from paybridge.runtime.worker import outcome_for

log = logging.getLogger(__name__)

LINES = "CustomerPaymentJournalLines"
HEADERS = "CustomerPaymentJournalHeaders"
MARKING = ("MarkedInvoice", "MarkedInvoiceCompany", "SettleVoucher")
_CHUNK = 400  # keys per IN (...) clause: well below SQLite's and PostgreSQL's parameter limits
RENUMBER_ROUNDS = 3  # times a refused line is re-planned and sent again in one pass


async def batch_reads(
    d365: DynamicsClient, reads: Sequence[tuple[str, Query]]
) -> list[list[dict[str, Any]] | PayBridgeError]:
    """Many collection reads in one ``$batch`` request (each read's first page, up to 10,000 rows).

    Used for exact-key lookups, so one page is the whole answer. Each read gets its own answer:
    its rows, or the error that read met (a failed read decides nothing about the others).
    """
    return [
        answer if isinstance(answer, PayBridgeError) else _rows(answer)
        for answer in await _batch_pages(d365, reads)
    ]


async def _batch_pages(
    d365: DynamicsClient, reads: Sequence[tuple[str, Query]]
) -> list[dict[str, Any] | PayBridgeError]:
    """Each read's first page as F&O sent it (``value``, maybe ``@odata.nextLink``), or its error."""
    if not reads:
        return []
    ops = [
        [BatchOperation(method="GET", entity_set=f"{entity_set}?{encode_params(query.params())}")]
        for entity_set, query in reads
    ]
    out: list[dict[str, Any] | PayBridgeError] = []
    for result in await d365.batch(ops):
        if result.error is not None:
            out.append(result.error)
            continue
        body = result.results[0].body if result.results else None
        out.append(body if isinstance(body, dict) else {})
    return out


def _rows(page: dict[str, Any]) -> list[dict[str, Any]]:
    rows = page.get("value", [])
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


@dataclass(frozen=True)
class KeyedRead:
    """Rows of ``entity_set`` found by the exact value of ``field`` in one company."""

    entity_set: str
    field: str
    select: tuple[str, ...] = ()

    def query(self, company: str, keys: Sequence[str]) -> Query:
        wanted = F(self.field) == keys[0]
        for key in keys[1:]:
            wanted = wanted | (F(self.field) == key)
        return Query(
            filter=wanted & (F("dataAreaId") == company),
            select=list(self.select) or None,
            cross_company=True,
        )


# What a look-up needs of a line D365 holds: which line it is (a line has some sixty fields).
LINE_BY_PAYMENT_ID = KeyedRead(
    LINES, "PaymentId", ("PaymentId", "dataAreaId", "JournalBatchNumber", "LineNumber", "Voucher")
)


async def keyed_reads(
    d365: DynamicsClient, wanted: Sequence[tuple[KeyedRead, str, str]]
) -> list[list[dict[str, Any]] | PayBridgeError]:
    """For each (read, company, key): the rows whose field is exactly ``key``, or the error its
    read met. The keys of one read and company share a read (``d365.keys_per_read`` at a time,
    as an ``or`` filter), all of them in one ``$batch``. A shared read F&O refuses (a filter
    too long for it) or answers with more than one page is asked again key by key."""
    groups: dict[tuple[KeyedRead, str], dict[str, None]] = {}
    for read, company, key in wanted:
        groups.setdefault((read, company), {})[key] = None
    per = max(1, d365.keys_per_read)
    chunks = [
        (read, company, keys[n : n + per])
        for (read, company), keys in ((group, list(keys)) for group, keys in groups.items())
        for n in range(0, len(keys), per)
    ]
    found: dict[tuple[KeyedRead, str, str], list[dict[str, Any]] | PayBridgeError] = {}
    pages = await _batch_pages(d365, [(r.entity_set, r.query(c, keys)) for r, c, keys in chunks])
    again: list[tuple[KeyedRead, str, str]] = []
    for (read, company, keys), page in zip(chunks, pages, strict=True):
        refused = isinstance(page, DataError | FatalError)
        if len(keys) > 1 and (refused or (isinstance(page, dict) and "@odata.nextLink" in page)):
            again += [(read, company, key) for key in keys]
            continue
        rows = page if isinstance(page, PayBridgeError) else _rows(page)
        found.update({(read, company, key): _exact(rows, read.field, key) for key in keys})
    if again:
        singles = await batch_reads(d365, [(r.entity_set, r.query(c, [k])) for r, c, k in again])
        for (read, company, key), rows in zip(again, singles, strict=True):
            found[(read, company, key)] = _exact(rows, read.field, key)
    return [found[item] for item in wanted]


def _exact(
    rows: list[dict[str, Any]] | PayBridgeError, field: str, key: str
) -> list[dict[str, Any]] | PayBridgeError:
    """The rows whose ``field`` is ``key`` exactly (F&O compares case- and wildcard-loosely)."""
    return rows if isinstance(rows, PayBridgeError) else [r for r in rows if r.get(field) == key]


async def batch_get(
    d365: DynamicsClient, reads: Sequence[tuple[str, Query]]
) -> list[list[dict[str, Any]]]:
    """``batch_reads`` for callers that need every answer: the first failed read raises."""
    out: list[list[dict[str, Any]]] = []
    for answer in await batch_reads(d365, reads):
        if isinstance(answer, PayBridgeError):
            raise answer
        out.append(answer)
    return out


class JournalBook:
    """Which journal a company's day of payments goes into, and the numbers of its lines.

    A day starts in generation 1; posting closes a generation, so later lines of the same day go
    into a fresh journal (``closed`` moves the generation cursor in the store, seen by every worker).
    """

    def __init__(
        self,
        d365: DynamicsClient,
        intents: IntentStore,
        cursors: Cursors,
        settings: DynamicsSettings,
    ) -> None:
        self.d365 = d365
        self.intents = intents
        self.cursors = cursors
        self.settings = settings
        self._numbers: dict[tuple[str, date, int], str] = {}

    def generation(self, company: str, day: date) -> int:
        stored = self.cursors.get(self._generation_name(company, day))
        return int(stored) if stored else 1

    def close(self, company: str, day: date, generation: int) -> None:
        """Later lines of ``day`` go to the next journal (idempotent per generation)."""
        name = self._generation_name(company, day)
        self.cursors.advance_if(name, str(generation), str(generation + 1), missing="1")

    def _generation_name(self, company: str, day: date) -> str:
        return f"journal-generation:{company}:{self.settings.journal_name}:{day.isoformat()}"

    def header_key(self, company: str, day: date, generation: int) -> str:
        base = f"journal:{company}:{self.settings.journal_name}:{day.isoformat()}"
        return base if generation == 1 else f"{base}:{generation}"

    def description(self, day: date, generation: int) -> str:
        text = f"PayBridge {self.settings.journal_description.format(day=day.isoformat())}"
        return text if generation == 1 else f"{text} ({generation})"

    async def journal(self, company: str, day: date) -> str:
        """The open journal's batch number, created once (intent + find by description)."""
        generation = self.generation(company, day)
        cached = self._numbers.get((company, day, generation))
        if cached:
            return cached
        description = self.description(day, generation)
        intent = self.intents.plan(
            self.header_key(company, day, generation), HEADER_STEP, "d365", description,
            {"company": company, "day": day.isoformat(), "generation": generation},
        )  # fmt: skip

        async def send() -> dict[str, Any]:
            created = await self.d365.create(
                HEADERS,
                {
                    "dataAreaId": company,
                    "JournalName": self.settings.journal_name,
                    "Description": description,
                },
            )
            return {"JournalBatchNumber": created["JournalBatchNumber"]}

        async def find() -> dict[str, Any] | None:
            rows = await self.d365.find_by_reference(
                HEADERS, "Description", description, company=company
            )
            return {"JournalBatchNumber": rows[0]["JournalBatchNumber"]} if rows else None

        resolution = await self.intents.execute_once(intent, send, find)
        number = str(resolution.detail["JournalBatchNumber"])
        self._numbers[(company, day, generation)] = number
        return number

    async def numbers(self, company: str, journal: str, count: int) -> list[int]:
        """The next ``count`` line numbers of ``journal``, past every number already in use.

        People add lines to the same journal (D365 numbers theirs one past the highest), so the
        numbers start past the highest line D365 holds now, and past every number this store
        handed out (lines of other workers still on their way). A person who takes a number
        between this read and the write makes D365 refuse it; the writer then looks and
        re-plans (``LineWriter``).
        """
        highest = await self.highest_line(company, journal)
        name = f"journal-line:{company}:{journal}"
        while True:  # compare-and-set, like ``Cursors.next_numbers``, from a floor
            current = self.cursors.get(name)
            start = max(int(current or 0), highest) + 1
            if self.cursors.advance_if(name, current or "", str(start + count - 1)):
                return list(range(start, start + count))

    async def highest_line(self, company: str, journal: str) -> int:
        """The highest line number in ``journal`` that D365 holds (0 when it holds none)."""
        page = await self.d365.page(
            LINES,
            Query(
                filter=(F("JournalBatchNumber") == journal) & (F("dataAreaId") == company),
                select=["LineNumber"],
                orderby=["LineNumber desc"],
                top=1,
                cross_company=True,
            ),
        )
        numbers = [Decimal(str(r["LineNumber"])) for r in page.value if "LineNumber" in r]
        # A person may number a line 2.5 to slot it between two: the next whole number is free.
        return int(max(numbers, default=Decimal(0)).to_integral_value(ROUND_CEILING))

    async def is_posted(self, company: str, journal: str) -> bool:
        row = await self.d365.get(
            HEADERS,
            {"dataAreaId": company, "JournalBatchNumber": journal},
            select=["IsPosted"],
            cross_company=True,
        )
        return row is not None and row.get("IsPosted") == "Yes"


@dataclass(frozen=True)
class LineJob:
    """One planned journal line: its intent holds the body (the exactly-once anchor is PaymentId)."""

    event_key: str
    intent: Intent
    template_version: str | None

    @property
    def company(self) -> str:
        return str(self.intent.detail["company"])

    @property
    def payment_id(self) -> str:
        return str(self.intent.detail["body"]["PaymentId"])

    @property
    def anchor(self) -> tuple[str, str]:
        """(company, PaymentId): a PaymentId is unique within its company only (two merchant
        accounts of two companies may both have a ``PT-5-sale``)."""
        return self.company.lower(), self.payment_id


Done = tuple[LineJob, dict[str, Any], str]  # the job, the line D365 holds, how it got there
FOUND_UNRECORDED = "found in D365, not in the store"
ADOPTED_FIELDS = ("PaymentId", "dataAreaId", "JournalBatchNumber", "LineNumber")


class LineWriter:
    """Writes planned lines, D365 being the authority on what is written.

    Every line not yet known done is looked up by its PaymentId first (all of a batch in one
    ``$batch`` of reads), so a store that is new, restored from a backup or re-driving a fact by
    another route never writes a line D365 already holds. Then the absent ones are claimed
    (fenced: a worker that lost the intent changes nothing) and sent in one ``$batch``.
    """

    def __init__(
        self,
        d365: DynamicsClient,
        intents: IntentStore,
        ledger: Ledger,
        book: JournalBook,
        tracer: Tracer = NO_TRACING,
    ) -> None:
        self.d365 = d365
        self.bulk = intents
        self.ledger = ledger
        self.book = book
        self.tracer = tracer

    async def write(self, jobs: Sequence[LineJob]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(jobs)
        looked = await self.look_up([j for j in jobs if j.intent.status != DONE])
        done: list[Done] = []
        candidates: list[int] = []
        for i, job in enumerate(jobs):
            answer = looked.get(job.anchor)
            if job.intent.status == DONE:
                outcomes[i] = Outcome.done("already posted")
            elif isinstance(answer, PayBridgeError):
                outcomes[i] = _unknown(answer)
            elif answer is not None:
                how = "found" if job.intent.status == PLANNED else "found after an unknown outcome"
                done.append((job, answer, how))
                outcomes[i] = Outcome.done(how)
            else:
                candidates.append(i)
        claims = self.bulk.claim_many([jobs[i].intent for i in candidates])
        to_send: list[tuple[int, LineJob]] = []
        for i, mine in zip(candidates, claims, strict=True):
            if mine is None:  # another worker holds this event right now; look again later
                outcomes[i] = Outcome.retry("another worker is posting this line", 1.0)
            else:
                to_send.append((i, replace(jobs[i], intent=mine)))
        if to_send:
            sent = await self._send([job for _, job in to_send], done)
            for (i, _), outcome in zip(to_send, sent, strict=True):
                outcomes[i] = outcome
        for i, recorded in self._record(done, jobs):
            if not recorded:
                outcomes[i] = Outcome.retry("another worker holds this line now", 1.0)
        return [o or Outcome.retry("unresolved") for o in outcomes]

    def adopt(self, held: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """(fact key, the line D365 holds for it) of lines this store has no record of (a store
        restored from a backup, say, whose facts PayTrace no longer shows: a voided capture
        reads as an authorization and its void): recorded done with their lineage, "found in
        D365", so the lineage names every line PayBridge wrote. Fenced like every transition;
        returns how many were recorded."""
        known = self.bulk.get_many(LINE_STEP, [key for key, _ in held])
        todo = [(key, row) for key, row in held if key not in known or known[key].status != DONE]
        if not todo:
            return 0
        fresh = [
            (key, str(row["PaymentId"]), {
                "company": str(row["dataAreaId"]),
                "body": {f: row[f] for f in ADOPTED_FIELDS if f in row},
                "adopted": True,
            })
            for key, row in todo if key not in known
        ]  # fmt: skip
        intents = {**known, **self.bulk.plan_many(LINE_STEP, "d365", fresh)}
        jobs = [LineJob(key, intents[key], None) for key, _ in todo]
        found = [(job, row, FOUND_UNRECORDED) for job, (_, row) in zip(jobs, todo, strict=True)]
        return sum(recorded for _, recorded in self._record(found, jobs))

    async def look_up(
        self, jobs: Sequence[LineJob]
    ) -> dict[tuple[str, str], dict[str, Any] | PayBridgeError | None]:
        """(company, PaymentId) -> the line D365 holds (``LINE_BY_PAYMENT_ID``'s fields), ``None``
        if it holds none, or why it could not tell.

        Exact match only: F&O compares strings loosely (case, wildcards).
        """
        if not jobs:
            return {}
        answers = await keyed_reads(
            self.d365, [(LINE_BY_PAYMENT_ID, job.company, job.payment_id) for job in jobs]
        )
        found: dict[tuple[str, str], dict[str, Any] | PayBridgeError | None] = {}
        for job, rows in zip(jobs, answers, strict=True):
            if isinstance(rows, PayBridgeError):
                found[job.anchor] = rows
                continue
            found[job.anchor] = rows[0] if rows else None
        return found

    async def _send(
        self, jobs: Sequence[LineJob], done: list[Done], rounds: int = RENUMBER_ROUNDS
    ) -> list[Outcome]:
        """Send claimed lines in one ``$batch``; each gets its own outcome and its own reason.

        A line refused for a reason it can get around (its number taken by a person's line, its
        journal posted meanwhile, its invoice paid meanwhile), and which D365 does not hold
        under its PaymentId, is re-planned (``_replan``) and sent again at once, up to
        ``rounds`` times; after that it waits for the next attempt like any retry.
        """
        ops = [
            [BatchOperation(method="POST", entity_set=LINES, body=job.intent.detail["body"],
                            reference=job.payment_id)]
            for job in jobs
        ]  # fmt: skip
        companies = ",".join(sorted({job.company for job in jobs}))
        attributes: Attributes = {"paybridge.lines": len(jobs), "paybridge.company": companies}
        with self.tracer.span(
            "d365 write journal lines", kind="client", attributes=attributes
        ) as span:
            try:
                results = await self.d365.batch(ops)
            except PayBridgeError as exc:  # only ConfigError escapes batch(); nothing written
                span.set_error(type(exc).__name__)
                self.bulk.set_many([(job.intent, PLANNED, {}) for job in jobs])
                return [outcome_for(exc)] * len(jobs)
            span.set_attribute("paybridge.refused", sum(1 for r in results if not r.ok))
        if len(jobs) > 1 and _refused_as_a_whole(results):
            # The request was refused before any line was looked at (one bad line can do that):
            # nothing was written, so halve it until each line meets its own answer (the lines
            # stay claimed by this worker throughout).
            half = len(jobs) // 2
            return await self._send(jobs[:half], done, rounds) + await self._send(
                jobs[half:], done, rounds
            )
        outcomes: list[Outcome] = []
        changes: list[tuple[int, tuple[Intent, str, dict[str, Any]]]] = []
        renumbered: set[int] = set()
        for i, (job, result) in enumerate(zip(jobs, results, strict=True)):
            outcome, change = await self._settle(job, result, done)
            outcomes.append(outcome)
            if change is not None:
                changes.append((i, change))
                if change[2]:  # re-planned (a new number or journal, unmarked): at once again
                    renumbered.add(i)
        again: list[tuple[int, Intent]] = []
        applied = self.bulk.set_many([change for _, change in changes])
        for (i, (intent, status, extra)), changed in zip(changes, applied, strict=True):
            if not changed:
                log.warning("%s: another worker holds this line now", intent.event_key)
            elif i in renumbered and rounds > 0:
                again.append((i, replace(intent, status=status, detail={**intent.detail, **extra})))
        if again:
            claims = self.bulk.claim_many([intent for _, intent in again])
            resend = [
                (i, replace(jobs[i], intent=mine))
                for (i, _), mine in zip(again, claims, strict=True)
                if mine is not None
            ]
            sent = await self._send([job for _, job in resend], done, rounds - 1)
            for (i, _), outcome in zip(resend, sent, strict=True):
                outcomes[i] = outcome
        return outcomes

    async def _settle(
        self, job: LineJob, result: ChangesetResult, done: list[Done]
    ) -> tuple[Outcome, tuple[Intent, str, dict[str, Any]] | None]:
        if result.ok:
            body = result.results[0].body if result.results else None
            done.append((job, body if isinstance(body, dict) else {}, "posted"))
            return Outcome.done("posted"), None
        error = result.error or FatalError("changeset failed without an error body", system="d365")
        if not isinstance(error, DEFINITE_REFUSALS) or isinstance(error, RetryableError):
            # In doubt: the intent stays ``sent`` and the next attempt looks before sending.
            # A changeset the server "did not answer" is looked up too: one read is cheaper
            # than trusting that a batch which stopped half-way stopped before this line.
            return outcome_for(error), None
        # A refusal may be D365 holding this very line already (another worker wrote it while
        # this one's lease ran out): look before calling it refused.
        looked = (await self.look_up([job])).get(job.anchor)
        if isinstance(looked, dict):
            done.append((job, looked, "found after a refusal"))
            return Outcome.done("found"), None
        if isinstance(looked, PayBridgeError):
            return _unknown(looked), None
        try:
            replanned = await self._replan(job, error)
        except PayBridgeError as exc:  # the read a re-plan needs failed: refused, so planned
            return _unknown(exc), (job.intent, PLANNED, {})
        if replanned is not None:
            return Outcome.retry(f"{error} (re-planned)", 0.0), (job.intent, PLANNED, replanned)
        return outcome_for(error), (job.intent, PLANNED, {})

    async def _replan(self, job: LineJob, error: PayBridgeError) -> dict[str, Any] | None:
        """A refusal the line can get around: a journal posted meanwhile, an invoice paid meanwhile."""
        if not isinstance(error, DataError):
            return None
        text = str(error)
        if isinstance(error, RecordExistsError):
            # Its number is taken (a person's line; our own would have been found by its
            # PaymentId just now): the same journal, a number past the highest D365 holds.
            journal = str(job.intent.detail["body"]["JournalBatchNumber"])
            return await self._moved_detail(job, journal)
        if "has been posted" in text:
            return await self._moved_detail(job, await self._move(job))
        body = job.intent.detail["body"]
        if "remaining amount" in text and body.get("MarkedInvoice"):
            # The invoice is (being) paid by other lines: this payment goes on account instead.
            unmarked = {k: v for k, v in body.items() if k not in MARKING}
            return {"body": unmarked, "unmarked": f"{body['MarkedInvoice']}: {text}"}
        return None

    async def _move(self, job: LineJob) -> str:
        """The journal was posted before this line reached it: the day's next journal."""
        day = date.fromisoformat(str(job.intent.detail["day"]))
        old = str(job.intent.detail["body"]["JournalBatchNumber"])
        journal = await self.book.journal(job.company, day)
        if journal == old:
            self.book.close(job.company, day, self.book.generation(job.company, day))
            journal = await self.book.journal(job.company, day)
        return journal

    async def _moved_detail(self, job: LineJob, journal: str) -> dict[str, Any]:
        (number,) = await self.book.numbers(job.company, journal, 1)
        body = {**job.intent.detail["body"], "JournalBatchNumber": journal, "LineNumber": number}
        return {"body": body}

    def _record(self, done: Sequence[Done], jobs: Sequence[LineJob]) -> list[tuple[int, bool]]:
        """Mark done lines' intents done and write their lineage, in one store transaction.

        Fenced: a line whose intent another worker took over meanwhile gets no lineage row from
        this worker (the holder finds the line and writes it). Returns (index in ``jobs``,
        recorded) for each.
        """
        if not done:
            return []
        position = {job.event_key: i for i, job in enumerate(jobs)}
        ids: list[str] = []
        for job, entity, _ in done:
            body = job.intent.detail["body"]
            number = entity.get("LineNumber", body["LineNumber"])
            company = entity.get("dataAreaId", body["dataAreaId"])
            journal = entity.get("JournalBatchNumber", body["JournalBatchNumber"])
            ids.append(f"{company}/{journal}/{number}")
        with self.ledger.engine.begin() as conn:
            changes = [
                (job.intent, DONE, {"entity_id": i})
                for (job, _, _), i in zip(done, ids, strict=True)
            ]
            changed = self.bulk.set_many(changes, conn)
            entries = [
                LineageRow(
                    job.event_key, LINE_STEP, system="d365", entity=LINES, entity_id=entity_id,
                    status="posted", attempts=job.intent.attempts + (how == "posted"),
                    template_version=job.template_version,
                    detail={"how": how, "voucher": entity.get("Voucher", "")},
                )
                for (job, entity, how), entity_id, ok in zip(done, ids, changed, strict=True)
                if ok
            ]  # fmt: skip
            self.ledger.record_many(entries, conn)
        return [
            (position[job.event_key], ok) for (job, _, _), ok in zip(done, changed, strict=True)
        ]


def _unknown(error: PayBridgeError) -> Outcome:
    """A look-up that failed: nothing is sent on a guess; the message's own reason is kept."""
    if isinstance(error, (DataError, ConfigError)):  # bad data dies; a refused login pauses
        return outcome_for(error)
    return Outcome.retry(f"cannot tell whether D365 holds the line: {error}")


def _refused_as_a_whole(results: Sequence[ChangesetResult]) -> bool:
    """Every changeset carries the same definite refusal: the request failed before the lines."""
    errors = {id(r.error) for r in results}
    first = results[0].error if results else None
    return (
        len(errors) == 1
        and isinstance(first, (DataError, FatalError))
        and not isinstance(first, RetryableError)
    )


async def delete_line(
    d365: DynamicsClient, intents: IntentStore, event_key: str, company: str, entity_id: str
) -> str:
    """Remove one line of an unposted journal exactly once; an absent line after doubt is success."""
    _, journal, number = entity_id.split("/")
    key = {"dataAreaId": company, "JournalBatchNumber": journal, "LineNumber": Decimal(number)}
    intent = intents.plan(event_key, DELETE_STEP, "d365", entity_id, {"entity_id": entity_id})

    async def send() -> dict[str, Any]:
        try:
            await d365.delete(LINES, key, cross_company=True)
        except NotFoundError:
            return {"deleted": "absent"}
        return {"deleted": "now"}

    async def find() -> dict[str, Any] | None:
        row = await d365.get(LINES, key, select=["PaymentId"], cross_company=True)
        return {"deleted": "found absent"} if row is None else None

    resolution = await intents.execute_once(intent, send, find)
    return str(resolution.detail.get("deleted", resolution.how))
