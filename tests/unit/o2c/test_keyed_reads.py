"""keyed_reads: exact-key look-ups share reads (an `or` filter), and fall back to one per key."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import pytest

from paybridge.connectors.dynamics.batch import BatchOperation, ChangesetResult, OperationResult
from paybridge.errors import DataError, PayBridgeError, RetryableError
from paybridge.o2c.journals import LINE_BY_PAYMENT_ID, keyed_reads

pytestmark = pytest.mark.anyio


class FakeD365:
    """Answers GET reads of lines by PaymentId from ``rows``; ``refuse_over`` keys in one filter
    are refused as F&O refuses a filter past its node limit; ``page`` rows at most per answer."""

    def __init__(
        self, rows: list[dict[str, Any]], keys_per_read: int, refuse_over: int = 99, page: int = 99
    ) -> None:
        self.rows = rows
        self.keys_per_read = keys_per_read
        self.refuse_over = refuse_over
        self.page = page
        self.reads: list[list[str]] = []  # the keys of each read, per batch call
        self.calls = 0
        self.failing: set[str] = set()

    async def batch(self, changesets: Sequence[Sequence[BatchOperation]]) -> list[ChangesetResult]:
        self.calls += 1
        out = []
        for (op,) in changesets:
            text = unquote(op.entity_set)
            keys = re.findall(r"PaymentId eq '([^']*)'", text)
            company = re.findall(r"dataAreaId eq '([^']*)'", text)[0]
            self.reads.append(keys)
            if len(keys) > self.refuse_over:
                error = DataError("The node count limit of '100' has been exceeded")
                out.append(ChangesetResult(ok=False, error=error))
                continue
            if self.failing & set(keys):
                out.append(ChangesetResult(ok=False, error=RetryableError("503")))
                continue
            # F&O compares loosely (case-insensitive): the caller must keep exact matches only.
            found = [
                r for r in self.rows
                if r["dataAreaId"] == company and r["PaymentId"].lower() in {k.lower() for k in keys}
            ]  # fmt: skip
            body: dict[str, Any] = {"value": found[: self.page]}
            if len(found) > self.page:
                body["@odata.nextLink"] = "next"
            out.append(ChangesetResult(ok=True, results=[OperationResult(200, body, {})]))
        return out


def _line(pid: str, company: str = "usmf") -> dict[str, Any]:
    return {"PaymentId": pid, "dataAreaId": company, "LineNumber": 1}


async def _look_up(d365: FakeD365, wanted: list[tuple[str, str]]) -> list[Any]:
    items = [(LINE_BY_PAYMENT_ID, company, pid) for company, pid in wanted]
    return await keyed_reads(d365, items)  # type: ignore[arg-type]


async def test_keys_share_reads_and_each_gets_only_its_exact_rows() -> None:
    rows = [_line(f"PT-{n}-sale") for n in range(0, 45, 2)] + [
        _line("pt-1-SALE"),
        _line("PT-3-sale", "usrt"),
    ]
    d365 = FakeD365(rows, keys_per_read=20)
    wanted = [("usmf", f"PT-{n}-sale") for n in range(45)] + [
        ("usrt", "PT-3-sale"),
        ("usmf", "PT-0-sale"),
    ]
    answers = await _look_up(d365, wanted)
    assert d365.calls == 1 and [len(k) for k in d365.reads] == [20, 20, 5, 1]
    for (company, pid), rows_found in zip(wanted, answers, strict=True):
        expected = (
            [_line(pid, company)] if company == "usrt" or int(pid.split("-")[1]) % 2 == 0 else []
        )
        assert rows_found == expected, pid  # "pt-1-SALE" is not PT-1-sale


async def test_a_refused_or_cut_short_shared_read_is_asked_again_key_by_key() -> None:
    rows = [_line(f"PT-{n}-sale") for n in range(6)]
    refusing = FakeD365(rows, keys_per_read=4, refuse_over=2)
    answers = await _look_up(refusing, [("usmf", f"PT-{n}-sale") for n in range(6)])
    assert answers == [[_line(f"PT-{n}-sale")] for n in range(6)]
    assert refusing.calls == 2 and [len(k) for k in refusing.reads] == [4, 2, 1, 1, 1, 1]
    paged = FakeD365(rows, keys_per_read=3, page=2)
    answers = await _look_up(paged, [("usmf", f"PT-{n}-sale") for n in range(6)])
    assert answers == [[_line(f"PT-{n}-sale")] for n in range(6)]  # never a partial answer


async def test_a_failed_read_fails_only_its_own_keys() -> None:
    d365 = FakeD365([_line(f"PT-{n}-sale") for n in range(4)], keys_per_read=2)
    d365.failing = {"PT-3-sale"}
    answers = await _look_up(d365, [("usmf", f"PT-{n}-sale") for n in range(4)])
    assert answers[:2] == [[_line("PT-0-sale")], [_line("PT-1-sale")]]
    assert all(isinstance(a, PayBridgeError) for a in answers[2:])
