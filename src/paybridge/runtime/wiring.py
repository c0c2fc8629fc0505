"""What each capability adds to the running engine, and the start-up check that it all fits.

A capability that publishes a topic nobody handles loses its messages to the dead-letter queue
("no handler for topic"), and a job its settings enable but nobody schedules silently never
happens. Both are wiring mistakes the engine refuses to start with, naming the topic or job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from paybridge.errors import ConfigError
from paybridge.runtime.scheduler import ScheduledJob
from paybridge.runtime.worker import Handler


@dataclass
class Contribution:
    """One capability's part of the engine: topics it publishes, handlers, scheduled jobs."""

    name: str
    publishes: frozenset[str] = frozenset()
    handlers: dict[str, Handler] = field(default_factory=dict)
    jobs: list[ScheduledJob] = field(default_factory=list)


def check_wiring(
    contributions: Sequence[Contribution], enabled_jobs: Mapping[str, str]
) -> dict[str, Handler]:
    """The engine's handlers by topic; ConfigError if a topic has none or two, or a job is missing.

    ``enabled_jobs`` maps each job name the settings enable to the setting that enables it.
    """
    handlers: dict[str, Handler] = {}
    owner: dict[str, str] = {}
    for part in contributions:
        for topic, handler in part.handlers.items():
            if topic in handlers:
                raise ConfigError(
                    f"topic {topic!r} has two handlers ({owner[topic]} and {part.name})",
                    operation="start-up check",
                )
            handlers[topic] = handler
            owner[topic] = part.name
    for part in contributions:
        for topic in sorted(part.publishes - handlers.keys()):
            raise ConfigError(
                f"{part.name} publishes topic {topic!r}, which no enabled capability handles",
                operation="start-up check",
            )
    scheduled = {job.name for part in contributions for job in part.jobs}
    for name, setting in sorted(enabled_jobs.items()):
        if name not in scheduled:
            raise ConfigError(
                f"job {name!r} is enabled by {setting} but not scheduled",
                operation="start-up check",
            )
    names = [job.name for part in contributions for job in part.jobs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"job {twice[0]!r} is scheduled twice", operation="start-up check")
    return handlers
