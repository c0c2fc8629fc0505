"""What the console's flow view counts besides the dashboard's figures: facts seen since a moment
(the payment index) and each scheduled job's last run (the scheduler's claims)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from paybridge.store.schema import schedule_runs
from paybridge.store.schema_console import payment_index


@dataclass(frozen=True)
class JobRun:
    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None


def facts_since(engine: Engine, since: datetime) -> int:
    """PayTrace transaction states (sales, refunds, voids...) that happened since ``since``."""
    query = (
        select(func.count()).select_from(payment_index).where(payment_index.c.occurred_at >= since)
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def last_runs(engine: Engine, jobs: list[str]) -> dict[str, JobRun]:
    """The newest run of each of ``jobs`` (a job that never ran is left out)."""
    newest = (
        select(schedule_runs.c.job, func.max(schedule_runs.c.slot).label("slot"))
        .where(schedule_runs.c.job.in_(jobs))
        .group_by(schedule_runs.c.job)
        .subquery()
    )
    query = select(schedule_runs).join(
        newest, (schedule_runs.c.job == newest.c.job) & (schedule_runs.c.slot == newest.c.slot)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return {
        r["job"]: JobRun(r["job"], r["started_at"], r["finished_at"], r["outcome"]) for r in rows
    }
