"""Published interface: a screen that looks at each payment before it is posted, and its verdicts.

The ``payment`` handler asks an optional ``PaymentScreen`` (app hands in insight's when
``insight.enabled``) about every transaction of a batch before it routes any: ``PASS`` posts as
usual, ``HOLD`` keeps the message waiting at the head of its partition (durably, in the queue,
not counted as an attempt) until a person decides, ``WITHHOLD`` ends it unposted (a person
confirmed fraud). A screen never posts, and the poster never scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from paybridge.model import Transaction


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    HOLD = "hold"
    WITHHOLD = "withhold"


@dataclass(frozen=True)
class Screened:
    """One transaction's verdict; ``reason`` is what the queue and the payment's history show."""

    verdict: Verdict
    reason: str = ""
    recheck_seconds: float = 30.0


PASSED = Screened(Verdict.PASS)


class PaymentScreen(Protocol):
    async def screen(self, transactions: Sequence[Transaction]) -> list[Screened]:
        """One verdict per transaction, in order; the same transaction always gets the verdict
        its first screening recorded, until a person changes it."""
        ...
