"""The worker: claims envelopes, hands each topic's batch to its handler, applies retries and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from paybridge.errors import ConfigError, DataError, FatalError, InDoubtError, RetryableError
from paybridge.runtime.alerts import Alert, AlertSink, log_alert, raise_alert
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.retry import RetryPolicy
from paybridge.runtime.tracing import NO_TRACING, Attributes, Tracer

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
        return Outcome.retry(f"in doubt, will look up {exc.reference!r}: {exc}", exc.retry_after)
    if isinstance(exc, ConfigError):
        # Settings, credentials or rights: every message of the topic would fail alike, so the
        # topic pauses and no message's attempts are spent (see Worker._pause).
        return Outcome.pause(f"configuration: {exc}")
    return Outcome.retry(f"unexpected {type(exc).__name__}: {exc}")


def postponed_reason(outcomes: Sequence[Outcome]) -> str:
    return next((o.reason for o in outcomes if o.status == "pause"), "topic paused")


@dataclass
class PausedTopic:
    """A topic held back since ``since`` because of ``reason``; its next try is at ``until``."""

    reason: str
    since: datetime
    until: datetime


@dataclass
class WorkerStats:
    processed: int = 0
    retried: int = 0
    dead: int = 0
    batches: int = 0
    fenced: int = 0  # outcomes dropped because another worker held the message by then
    postponed: int = 0  # messages given back uncounted while their topic was paused
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
        alerts: AlertSink = log_alert,
        pause_seconds: float = 30.0,
        paused: dict[str, PausedTopic] | None = None,
        tracer: Tracer = NO_TRACING,
    ) -> None:
        self.queue = queue
        self.tracer = tracer
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
        self.alerts = alerts
        # A paused topic's messages come back this often: the re-probe of the condition.
        self.pause_seconds = pause_seconds
        # Shared with siblings: one pause and one alert per topic per process.
        self.paused: dict[str, PausedTopic] = {} if paused is None else paused
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
        pause = self.paused.get(topic)
        if pause is not None and self._now() < pause.until:
            # Held back: given back uncounted until the next re-probe.
            delay = (pause.until - self._now()).total_seconds()
            self.stats.postponed += len(self.queue.postpone(envs, delay, pause.reason))
            return
        if handler is None:
            outcomes: Sequence[Outcome] = [Outcome.dead(f"no handler for topic {topic!r}")] * len(
                envs
            )
        else:
            renewing = asyncio.create_task(self._keep_leases(envs))
            try:
                outcomes = await self._handle(topic, handler, envs)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
        if len(outcomes) != len(envs):
            outcomes = [
                Outcome.retry(f"handler {topic!r} returned a wrong number of outcomes")
            ] * len(envs)
        self._track_pause(topic, outcomes)
        self._apply(envs, outcomes, self.policies.get(topic, self.policy))
        self.stats.by_topic[topic] = self.stats.by_topic.get(topic, 0) + len(envs)

    async def _handle(
        self, topic: str, handler: Handler, envs: list[Envelope]
    ) -> Sequence[Outcome]:
        """The handler's outcomes, in a span that continues the publishers' traces: a child of
        the first message's, linked to the others'."""
        traces = list(
            {tuple(sorted(e.headers.items())): e.headers for e in envs if e.headers}.values()
        )
        attributes: Attributes = {
            "messaging.destination.name": topic,
            "messaging.batch.message_count": len(envs),
        }
        with self.tracer.span(
            f"process {topic}", kind="consumer", attributes=attributes,
            parent=traces[0] if traces else None, links=traces[1:],
        ) as span:  # fmt: skip
            try:
                outcomes = await handler(envs)
            except Exception as exc:  # one failure for the whole batch; classified, never lost
                log.warning("handler %s failed for %d messages: %s", topic, len(envs), exc)
                span.set_error(type(exc).__name__)
                return [outcome_for(exc)] * len(envs)
            counts = Counter(o.status for o in outcomes)
            for status, count in sorted(counts.items()):
                span.set_attribute(f"paybridge.outcomes.{status}", count)
            return outcomes

    def _now(self) -> datetime:
        return self.queue.clock.now()

    def _track_pause(self, topic: str, outcomes: Sequence[Outcome]) -> None:
        """A configuration refusal pauses the topic (one alert); a try that meets none resumes it."""
        refusal = next((o for o in outcomes if o.status == "pause"), None)
        current = self.paused.get(topic)
        if refusal is None and current is None:
            return
        if refusal is None and all(o.status == "wait" for o in outcomes):
            return  # only messages waiting for a person: the try proved nothing either way
        now = self._now()
        if refusal is not None:
            until = now + timedelta(seconds=self.pause_seconds)
            if current is None:
                self.paused[topic] = PausedTopic(refusal.reason, now, until)
                log.error(
                    "topic %s paused: %s; trying again every %.0fs, attempts not counted",
                    topic, refusal.reason, self.pause_seconds,
                )  # fmt: skip
                raise_alert(self.alerts, Alert("topic.paused", topic, refusal.reason, now))
            else:
                current.until, current.reason = until, refusal.reason
        elif current is not None:
            del self.paused[topic]
            took = (now - current.since).total_seconds()
            log.warning("topic %s resumed after %.0fs paused", topic, took)
            reason = f"resumed after {took:.0f}s paused ({current.reason})"
            raise_alert(self.alerts, Alert("topic.resumed", topic, reason, now, "info"))

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
        postponed: list[Envelope] = []
        lost = 0
        for env, outcome in zip(envs, outcomes, strict=True):
            assert env.id is not None
            if outcome.status == "done":
                done.append(env)
            elif outcome.status == "pause":
                postponed.append(env)
            elif outcome.status == "wait":
                kept = self.queue.postpone([env], outcome.retry_after or 0.0, outcome.reason)
                self.stats.postponed += len(kept)
                lost += 1 - len(kept)
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
        if postponed:
            kept = self.queue.postpone(postponed, self.pause_seconds, postponed_reason(outcomes))
            self.stats.postponed += len(kept)
            lost += len(postponed) - len(kept)
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
            sleep=self.sleep, idle_seconds=self.idle_seconds, wait=self.wait, alerts=self.alerts,
            pause_seconds=self.pause_seconds, paused=self.paused, tracer=self.tracer,
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
