"""The worker: claims envelopes, hands each topic's batch to its handler, applies retries and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from paybridge.errors import ConfigError, DataError, FatalError, InDoubtError, RetryableError
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.retry import RetryPolicy

log = logging.getLogger("paybridge.worker")

Handler = Callable[[Sequence[Envelope]], Awaitable[Sequence[Outcome]]]
Sleep = Callable[[float], Awaitable[None]]
Wait = Callable[[asyncio.Event, float], Awaitable[None]]


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def outcome_for(exc: BaseException) -> Outcome:
    """Classify an exception by the error tree: bad data and refusals are dead letters at once."""
    if isinstance(exc, DataError) and exc.fields:
        fields = "; ".join(f"{name}: {problem}" for name, problem in sorted(exc.fields.items()))
        return Outcome.dead(f"{exc} [{fields}]")
    if isinstance(exc, (DataError, FatalError)):
        return Outcome.dead(str(exc))
    if isinstance(exc, RetryableError):
        return Outcome.retry(str(exc), exc.retry_after)
    if isinstance(exc, InDoubtError):
        return Outcome.retry(f"in doubt, will look up {exc.reference!r}: {exc}")
    if isinstance(exc, ConfigError):
        return Outcome.retry(f"configuration: {exc}")
    return Outcome.retry(f"unexpected {type(exc).__name__}: {exc}")


@dataclass
class WorkerStats:
    processed: int = 0
    retried: int = 0
    dead: int = 0
    batches: int = 0
    fenced: int = 0  # outcomes dropped because another worker held the message by then
    by_topic: dict[str, int] = field(default_factory=dict)


class Worker:
    def __init__(
        self,
        queue: SqlQueue,
        handlers: dict[str, Handler],
        *,
        name: str = "worker-1",
        batch_size: int = 200,
        lease_seconds: float = 120.0,
        policy: RetryPolicy | None = None,
        policies: dict[str, RetryPolicy] | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        idle_seconds: float = 0.2,
        wait: Wait = wait_or_stop,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.name = name
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.policy = policy or RetryPolicy()
        self.policies = policies or {}
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.idle_seconds = idle_seconds
        self.wait = wait
        self.stats = WorkerStats()

    async def run_once(self) -> int:
        """Process one claim's worth of messages; returns how many were handled."""
        batch = self.queue.claim(self.name, self.batch_size, self.lease_seconds)
        if not batch:
            return 0
        by_topic: dict[str, list[Envelope]] = {}
        for env in batch:
            if self._crashed_too_often(env):
                continue
            by_topic.setdefault(env.topic, []).append(env)
        for topic, envs in by_topic.items():
            await self._dispatch(topic, envs)
        self.stats.batches += 1
        return len(batch)

    def _crashed_too_often(self, env: Envelope) -> bool:
        """A message claimed again and again with no outcome kills its worker each time (a
        poison message): after three times its topic's attempts it is a dead letter."""
        policy = self.policies.get(env.topic, self.policy)
        claims = env.attempts - env.failures
        if claims <= 3 * policy.max_attempts:
            return False
        reason = f"claimed {claims} times without an outcome (its worker died each time)"
        if self.queue.dead(env, reason):
            self.stats.dead += 1
            log.error("dead letter %s: %s", env.key, reason)
        return True

    async def _dispatch(self, topic: str, envs: list[Envelope]) -> None:
        handler = self.handlers.get(topic)
        if handler is None:
            outcomes: Sequence[Outcome] = [Outcome.dead(f"no handler for topic {topic!r}")] * len(
                envs
            )
        else:
            renewing = asyncio.create_task(self._keep_leases(envs))
            try:
                outcomes = await handler(envs)
            except Exception as exc:  # one failure for the whole batch; classified, never lost
                log.warning("handler %s failed for %d messages: %s", topic, len(envs), exc)
                outcomes = [outcome_for(exc)] * len(envs)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
        if len(outcomes) != len(envs):
            outcomes = [
                Outcome.retry(f"handler {topic!r} returned a wrong number of outcomes")
            ] * len(envs)
        self._apply(envs, outcomes, self.policies.get(topic, self.policy))
        self.stats.by_topic[topic] = self.stats.by_topic.get(topic, 0) + len(envs)

    async def _keep_leases(self, envs: Sequence[Envelope]) -> None:
        """While a handler works, renew its leases every third of the lease: a slow D365 call
        (timeouts, retries, Retry-After waits) never hands the message to a second worker."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                self.queue.renew(envs, self.lease_seconds)
            except SQLAlchemyError as exc:  # the store is away: the lease may run out, fenced
                log.warning("cannot renew leases: %s", exc.__class__.__name__)

    def _apply(
        self, envs: Sequence[Envelope], outcomes: Sequence[Outcome], policy: RetryPolicy
    ) -> None:
        done: list[Envelope] = []
        lost = 0
        for env, outcome in zip(envs, outcomes, strict=True):
            assert env.id is not None
            if outcome.status == "done":
                done.append(env)
            elif outcome.status == "dead" or policy.exhausted(env.failures + 1):
                reason = outcome.reason
                if outcome.status != "dead":
                    reason = f"gave up after {env.failures + 1} attempts: {reason}"
                if self.queue.dead(env, reason):
                    self.stats.dead += 1
                    log.error("dead letter %s: %s", env.key, reason)
                else:
                    lost += 1
            else:
                delay = policy.delay(env.failures + 1, self.rng, outcome.retry_after)
                if self.queue.retry(env, delay, outcome.reason):
                    self.stats.retried += 1
                else:
                    lost += 1
        acked = self.queue.ack(done)
        self.stats.processed += len(acked)
        lost += len(done) - len(acked)
        if lost:
            # Another worker holds these now (our lease ran out): its outcome counts, not ours.
            self.stats.fenced += lost
            log.warning(
                "%s: %d messages were no longer ours; left to their new holder", self.name, lost
            )

    def sibling(self, name: str) -> Worker:
        """Another worker on the same queue and handlers (``--concurrency``)."""
        return Worker(
            self.queue, self.handlers, name=name, batch_size=self.batch_size,
            lease_seconds=self.lease_seconds, policy=self.policy, policies=self.policies, rng=self.rng,
            sleep=self.sleep, idle_seconds=self.idle_seconds, wait=self.wait,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set; the batch in hand finishes before it returns.

        If the store goes away (full disk, lost connection), consumption pauses with a growing
        wait and resumes when the store answers again; nothing leased is lost, its lease runs out.
        """
        pause = 0.0
        while not stop.is_set():
            try:
                handled = await self.run_once()
                pause = 0.0
            except SQLAlchemyError as exc:
                pause = min(max(pause * 2, 0.5), 30.0)
                log.error("store unavailable, pausing %.1fs: %s", pause, exc.__class__.__name__)
                handled = 0
            if handled == 0:
                await self.wait(stop, pause or self.idle_seconds)
