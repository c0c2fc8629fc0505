"""Dead-letter triage: open / resolved / ignored with who and why, a history, and replays that keep why a message died."""

from __future__ import annotations

import pytest

from paybridge.clock import ManualClock
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue
from paybridge.store import open_engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(store_url: str, clock: ManualClock) -> SqlQueue:
    return SqlQueue(open_engine(store_url), clock)


def dead_letter(queue: SqlQueue, key: str, reason: str) -> int:
    queue.enqueue([Envelope(topic="payment", key=key, partition_key=key, payload={"k": key})])
    (claimed,) = queue.claim("w", 10)
    assert queue.dead(claimed, reason)
    assert claimed.id is not None
    return claimed.id


def test_a_dead_letter_is_open_until_resolved_or_ignored(queue: SqlQueue) -> None:
    first = dead_letter(queue, "a", "no D365 customer")
    second = dead_letter(queue, "b", "bad amount")
    assert [r["id"] for r in queue.dead_letters(state="open")] == [first, second]

    resolved = queue.triage(first, "resolve", "cli:ana", comment="keyed in D365 by hand")
    ignored = queue.triage(second, "ignore", "cli:bo", assignee="bo")
    assert resolved is not None and resolved["triage_state"] == "resolved"
    assert ignored is not None and (ignored["triage_state"], ignored["assignee"]) == (
        "ignored",
        "bo",
    )
    assert queue.dead_letters(state="open") == []
    assert [r["id"] for r in queue.dead_letters(state="resolved")] == [first]
    assert [r["key"] for r in queue.dead_letters()] == ["a", "b"]  # None: every state

    reopened = queue.triage(first, "reopen", "cli:ana")
    assert reopened is not None and reopened["triage_state"] == "open"
    assert [r["id"] for r in queue.dead_letters(state="open")] == [first]


def test_a_comment_keeps_the_state_and_every_action_is_in_the_history(
    queue: SqlQueue, clock: ManualClock
) -> None:
    message = dead_letter(queue, "a", "no D365 customer")
    queue.triage(
        message, "comment", "cli:ana", comment="asked sales for the account", assignee="ana"
    )
    clock.advance(60)
    queue.triage(message, "resolve", "cli:bo", comment="linked")
    history = queue.history(message)
    assert [(h["action"], h["state"], h["actor"], h["assignee"]) for h in history] == [
        ("comment", "open", "cli:ana", "ana"),
        ("resolve", "resolved", "cli:bo", "ana"),
    ]
    assert history[0]["comment"] == "asked sales for the account"
    assert history[1]["at"] > history[0]["at"]
    row = queue.dead_letter(message)
    assert row is not None and (row["triaged_by"], row["assignee"]) == ("cli:bo", "ana")


def test_a_replay_records_why_it_died_and_who_replayed_it(queue: SqlQueue) -> None:
    message = dead_letter(queue, "a", "no D365 customer for C-1")
    assert queue.replay(message, actor="cli:ana", comment="linked C-1")
    assert queue.dead_letter(message) is None  # alive again
    (again,) = queue.claim("w", 10)
    assert again.id == message and again.attempts == 1  # attempts start over
    assert queue.dead(again, "bad amount")
    (entry,) = queue.history(message)
    assert (entry["action"], entry["actor"], entry["comment"]) == (
        "replay",
        "cli:ana",
        "linked C-1",
    )
    assert entry["detail"]["dead_reason"] == "no D365 customer for C-1"
    assert entry["detail"]["attempts"] == 1 and entry["detail"]["replay"] == 1
    row = queue.dead_letter(message)
    assert row is not None and (row["replays"], row["dead_reason"]) == (1, "bad amount")


def test_triage_of_what_is_not_a_dead_letter_changes_nothing(queue: SqlQueue) -> None:
    queue.enqueue([Envelope(topic="payment", key="live", partition_key="p", payload={})])
    (live,) = queue.claim("w", 10)
    assert live.id is not None
    assert queue.triage(live.id, "resolve", "cli:ana") is None
    assert queue.history(live.id) == []
    with pytest.raises(ValueError, match="unknown triage action"):
        queue.triage(live.id, "delete", "cli:ana")
