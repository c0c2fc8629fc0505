"""The lineage of one PayTrace transaction, read from the store: what ``paybridge trace`` prints
and the console's payment page draws.

When each fact was seen (inbox) and what became of its message (queue), each step and the
record it wrote in either system (ledger), and what people did about a dead letter (its
history), with the reasons in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paybridge.runtime.ledger import Ledger, LedgerEntry
from paybridge.runtime.queue import SqlQueue


@dataclass(frozen=True)
class Sighting:
    key: str
    source: str
    received_at: datetime
    duplicates: int
    message: dict[str, Any] | None  # the queue row: id, topic, status, attempts, reasons...
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Lineage:
    transaction_id: str
    seen: list[Sighting]
    steps: list[LedgerEntry]

    @property
    def known(self) -> bool:
        return bool(self.seen or self.steps)

    def why(self) -> list[str]:
        """Why a message died (now or before a replay), and what people did about it."""
        lines: list[str] = []
        for row in self.seen:
            lines += why_lines(row.key, row.message or {}, row.history)
        return lines

    def to_json(self) -> dict[str, Any]:
        seen = []
        for row in self.seen:
            entry: dict[str, Any] = {
                "key": row.key, "source": row.source, "received_at": row.received_at,
                "duplicates": row.duplicates, "message": dict(row.message) if row.message else None,
            }  # fmt: skip
            if row.message:
                entry["message"]["history"] = row.history
            seen.append(entry)
        return {"seen": seen, "steps": [vars(s) for s in self.steps]}


def lineage_of(ledger: Ledger, queue: SqlQueue, transaction_id: str) -> Lineage:
    """Everything the store knows of PayTrace transaction ``transaction_id``."""
    prefix = f"paytrace:{transaction_id.strip()}:"
    seen = []
    for row in ledger.sightings(prefix):
        message = row.get("message")
        history = queue.history(int(message["id"])) if message else []
        seen.append(
            Sighting(
                row["key"],
                row["source"],
                row["received_at"],
                int(row.get("duplicates") or 0),
                message,
                history,
            )
        )
    seen.sort(key=lambda s: s.received_at)
    return Lineage(transaction_id.strip(), seen, ledger.entries(prefix))


def why_lines(key: str, message: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for entry in history:
        d = entry["detail"]
        if entry["action"] == "replay":
            lines.append(
                f"{key}: died after {d.get('attempts')} attempts: {d.get('dead_reason')}; "
                f"replayed by {entry['actor']} at {entry['at']}"
            )
        else:
            note = f": {entry['comment']}" if entry.get("comment") else ""
            lines.append(f"{key}: {entry['action']} by {entry['actor']} at {entry['at']}{note}")
    if message.get("status") == "dead":
        lines.append(
            f"{key}: dead after {message.get('attempts')} attempts: {message.get('dead_reason')}"
            f" (see `paybridge dlq show {message.get('id')}`)"
        )
    elif message.get("status") in ("ready", "leased") and message.get("last_error"):
        lines.append(
            f"{key}: retrying ({message.get('attempts')} attempts): {message['last_error']}"
        )
    return lines
