"""The morning job: reconcile the day before, for every configured company, and keep the reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from paybridge.reconcile.render import render
from paybridge.reconcile.service import Reconciler
from paybridge.reconcile.settings import ReconcileSettings

JOB_NAME = "reconcile.morning"


class MorningReconciliation:
    """``run(today)`` reconciles ``today - 1`` (merchant-local) and writes HTML and JSON reports."""

    def __init__(
        self, reconciler: Callable[[ReconcileSettings], Reconciler], settings: ReconcileSettings
    ) -> None:
        self.reconciler = reconciler
        self.settings = settings

    async def run(self, today: date) -> str:
        day = today - timedelta(days=1)
        reconciler = self.reconciler(self.settings)
        outcomes = []
        for company in self.settings.companies:
            report = await reconciler.run(
                day,
                company,
                heal=self.settings.heal_on_schedule,
                # A report unless a person turned the journal on for the schedule.
                journal=self.settings.journal_on_schedule,
            )
            folder = self.settings.reports_dir
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                for fmt in ("html", "json"):
                    path = folder / f"reconcile-{company}-{day.isoformat()}.{fmt}"
                    path.write_bytes(render(report, fmt))
            outcomes.append(f"{company} {day.isoformat()}: exit {report.exit_code}")
        return "; ".join(outcomes)
