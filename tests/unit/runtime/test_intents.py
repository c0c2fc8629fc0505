"""Intents: a write is sent at most once per confirmed absence; unknown outcomes are looked up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.clock import ManualClock
from paybridge.errors import DataError, InDoubtError, RetryableError
from paybridge.runtime.intents import DONE, PLANNED, SENT, IntentStore, dump_detail, load_detail
from paybridge.store import open_engine


@pytest.fixture
def intents(store_url: str) -> IntentStore:
    return IntentStore(open_engine(store_url), ManualClock())


class Remote:
    """A fake other system that may commit and then lose the answer."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.sends = 0
        self.drop_answer = False

    async def send(self) -> dict[str, Any]:
        self.sends += 1
        self.rows.append("line")
        if self.drop_answer:
            raise InDoubtError("timeout after commit", reference="k")
        return {"id": len(self.rows)}

    async def find(self) -> dict[str, Any] | None:
        return {"id": len(self.rows)} if self.rows else None


@pytest.mark.anyio
async def test_first_plan_wins_and_keeps_decimals(intents: IntentStore) -> None:
    first = intents.plan("k", "s", "d365", "ref", {"amount": Decimal("12.30")})
    second = intents.plan("k", "s", "d365", "other", {"amount": Decimal("99")})
    assert second.reference == "ref"
    assert second.detail["amount"] == Decimal("12.30")
    assert first.status == PLANNED


@pytest.mark.anyio
async def test_commit_then_drop_is_found_not_resent(intents: IntentStore) -> None:
    remote = Remote()
    remote.drop_answer = True
    intent = intents.plan("k", "s", "d365", "ref", {})
    with pytest.raises(InDoubtError):
        await intents.execute_once(intent, remote.send, remote.find)
    stored = intents.get("k", "s")
    assert stored is not None and stored.status == SENT
    remote.drop_answer = False
    resolution = await intents.execute_once(stored, remote.send, remote.find)
    assert resolution.how == "found"
    assert remote.sends == 1 and remote.rows == ["line"]
    done = intents.get("k", "s")
    assert done is not None and done.status == DONE
    assert (await intents.execute_once(done, remote.send, remote.find)).how == "already"
    assert remote.sends == 1


@pytest.mark.anyio
async def test_confirmed_absence_is_sent_again(intents: IntentStore) -> None:
    remote = Remote()
    intent = intents.plan("k", "s", "d365", "ref", {})

    async def lost() -> dict[str, Any]:
        remote.sends += 1
        raise InDoubtError("reset before the server saw it", reference="k")

    with pytest.raises(InDoubtError):
        await intents.execute_once(intent, lost, remote.find)
    stored = intents.get("k", "s")
    assert stored is not None
    resolution = await intents.execute_once(stored, remote.send, remote.find)
    assert resolution.how == "sent" and remote.rows == ["line"]


@pytest.mark.anyio
async def test_a_refusal_leaves_the_intent_sendable(intents: IntentStore) -> None:
    intent = intents.plan("k", "s", "d365", "ref", {})

    async def refuse() -> dict[str, Any]:
        raise DataError("unknown customer", fields={"AccountDisplayValue": "not found"})

    async def nothing() -> dict[str, Any] | None:
        raise AssertionError("a planned intent is never looked up")

    with pytest.raises(DataError):
        await intents.execute_once(intent, refuse, nothing)
    stored = intents.get("k", "s")
    assert stored is not None and stored.status == PLANNED


@pytest.mark.anyio
async def test_a_surprise_after_sending_counts_as_unknown(intents: IntentStore) -> None:
    intent = intents.plan("k", "s", "d365", "ref", {})

    async def broken_parse() -> dict[str, Any]:
        raise KeyError("JournalBatchNumber")

    with pytest.raises(KeyError):
        await intents.execute_once(intent, broken_parse, Remote().find)
    stored = intents.get("k", "s")
    assert stored is not None and stored.status == SENT


@pytest.mark.anyio
async def test_two_workers_holding_one_intent_send_once(intents: IntentStore) -> None:
    remote = Remote()
    first = intents.plan("k", "s", "d365", "ref", {})
    second = intents.get("k", "s")  # a second worker read the same intent (its lease ran out)
    assert second is not None
    assert intents.claim_send(first) is not None
    assert intents.claim_send(second) is None
    with pytest.raises(RetryableError, match="another worker"):
        await intents.execute_once(second, remote.send, remote.find)
    assert remote.sends == 0


def test_a_worker_that_lost_the_intent_changes_nothing(intents: IntentStore) -> None:
    """Fencing (issue 13, scenario 4): the first worker's lease ran out while its send was out;
    the second claimed the same intent. The first's refusal must not reset the intent, its
    completion must not overwrite the second's, and ``set_many`` compares like the rest."""
    seen = intents.plan("k", "s", "d365", "ref", {"n": 1})
    first = intents.claim_send(seen)
    assert first is not None and first.attempts == 1
    second = intents.claim_send(first)  # looked, found nothing, claimed: sent -> sent, attempt 2
    assert second is not None and second.attempts == 2
    assert intents.unsend(first) is False
    assert intents.complete(first, {"by": "first"}) is False
    assert intents.fail(first, "x") is False
    assert intents.set_many([(first, PLANNED, {"n": 2})]) == [False]
    stored = intents.get("k", "s")
    assert stored is not None and (stored.status, stored.attempts) == (SENT, 2)
    assert stored.detail == {"n": 1}
    assert intents.set_many([(second, DONE, {"line": "L1"})]) == [True]
    stored = intents.get("k", "s")
    assert stored is not None and stored.status == DONE and stored.detail["line"] == "L1"
    assert intents.claim_many([seen, first]) == [None, None]  # stale reads claim nothing


def test_many_at_once_are_fenced_row_by_row(intents: IntentStore) -> None:
    """Issue 19: on PostgreSQL a batch's claims and transitions are one statement; each row is
    still fenced by its own status and attempts, as one by one (SQLite)."""
    planned = intents.plan_many("s", "d365", [(f"k{n}", f"r{n}", {"n": n}) for n in range(4)])
    seen = [planned[f"k{n}"] for n in range(4)]
    (rival,) = intents.claim_many([seen[1]])  # another worker took k1 first
    assert rival is not None
    claimed = intents.claim_many(seen)
    assert [c is not None for c in claimed] == [True, False, True, True]
    mine = [c for c in claimed if c is not None]
    assert [c.attempts for c in mine] == [1, 1, 1]
    stale = intents.get("k3", "s")
    assert stale is not None
    intents.set_many([(stale, DONE, {"by": "rival"})])  # k3 moved on behind this worker's back
    changed = intents.set_many([(c, DONE, {"id": c.event_key}) for c in mine])
    assert changed == [True, True, False]
    done = {key: intents.get(key, "s") for key in ("k0", "k2", "k3", "k1")}
    assert done["k0"] is not None and done["k0"].status == DONE
    assert done["k0"].detail == {"n": 0, "id": "k0"}
    assert done["k3"] is not None and done["k3"].detail == {"n": 3, "by": "rival"}
    assert done["k1"] is not None and done["k1"].status == SENT  # the rival's, untouched
    # A key twice in one batch: the second finds the first's change, as one by one.
    again = intents.plan_many("s", "d365", [("k9", "r9", {})])["k9"]
    assert intents.claim_many([again, again]) == [held_of(again), None]


def held_of(intent: Any) -> Any:
    from paybridge.runtime.intents import held

    return held(intent)


def test_a_batch_is_fenced_by_attempts_as_well_as_status(intents: IntentStore) -> None:
    """A rival that claimed intents after this worker's lease ran out holds them ``sent`` too,
    one attempt on: this worker's batch (PostgreSQL and SQLite: one statement) changes none of
    them, and its other intents as usual."""
    planned = intents.plan_many("s", "d365", [(f"a{n}", f"r{n}", {}) for n in range(3)])
    mine = intents.claim_many([planned[f"a{n}"] for n in range(3)])
    assert all(m is not None and m.attempts == 1 for m in mine)
    held_now = [m for m in mine if m is not None]
    theirs = intents.claim_many(held_now[:2])  # sent -> sent, attempt 2: the rival's now
    assert [t.attempts if t else None for t in theirs] == [2, 2]
    changed = intents.set_many([(m, PLANNED, {"by": "me"}) for m in held_now])
    assert changed == [False, False, True]
    assert intents.claim_many(held_now[:2]) == [None, None]
    for key in ("a0", "a1"):
        stored = intents.get(key, "s")
        assert stored is not None and (stored.status, stored.attempts, stored.detail) == (
            SENT, 2, {},
        )  # fmt: skip


def test_a_detail_keeps_every_decimal_exact_wherever_it_is() -> None:
    from datetime import UTC, datetime

    detail = {"b": [Decimal("1.10"), (Decimal("-0.00"), 2)], "a": {"z": Decimal("1E+2")},
              "at": datetime(2026, 1, 2, tzinfo=UTC), "n": None, "t": True}  # fmt: skip
    text = dump_detail(detail)
    assert text == (
        '{"a": {"z": {"$decimal": "1E+2"}}, "at": "2026-01-02 00:00:00+00:00", '
        '"b": [{"$decimal": "1.10"}, [{"$decimal": "-0.00"}, 2]], "n": null, "t": true}'
    )
    back = load_detail(text)
    assert back["b"][0] == Decimal("1.10") and str(back["b"][0]) == "1.10"
    assert str(back["b"][1][0]) == "-0.00" and str(back["a"]["z"]) == "1E+2"


def test_a_batch_moves_keys_and_details_of_any_text(intents: IntentStore) -> None:
    # The batch travels as one JSON document (PostgreSQL) or a VALUES list (SQLite): quotes,
    # backslashes, tabs and characters beyond ASCII come back as they went.
    keys = ["paytrace:Café-ü:1:sale", 'k "quoted" \\back', "emoji 💳:2", "tab\there"]
    detail = {"amount": Decimal("1.10"), "s": 'x"y\\z💳\t'}
    planned = intents.plan_many("d365.payment_line", "d365", [(k, "ref", detail) for k in keys])
    claims = intents.claim_many([planned[k] for k in keys])
    assert all(c is not None and c.status == SENT for c in claims)
    back = intents.get_many("d365.payment_line", keys)
    assert {k: (v.status, v.attempts, v.detail) for k, v in back.items()} == {
        k: (SENT, 1, detail) for k in keys
    }
