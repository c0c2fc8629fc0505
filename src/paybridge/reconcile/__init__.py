"""Daily settlement reconciliation (about 2,700 lines): PayTrace batches vs D365 payment lines vs the ledger.

- ``load_paytrace``, ``load_d365``: read both sides of a day; ``columns``: their common shape.
- ``matcher`` (pure), ``batches``, ``build``: classify every transaction, check batch totals.
- ``heal``: re-drive what is missing in D365 through order-to-cash (``o2c.facts``).
- ``journal``: the settlement general journal per batch, exactly once (lines through the
  ``settlement_to_general_journal_line`` template).
- ``service``: ``Reconciler.run``; ``morning``: the scheduled run for the day before.
- ``report``, ``render/``: the report as data, then HTML, XLSX, CSV and JSON.
- ``settings``: the ``reconcile:`` section.

Contributes: job ``reconcile.morning`` when ``reconcile.schedule_at`` is set.
"""

from paybridge.reconcile.batches import BatchTally, ReportedBatch
from paybridge.reconcile.columns import Codes, D365Columns, LedgerColumns, PayTraceColumns
from paybridge.reconcile.heal import HealAction, heal_envelope
from paybridge.reconcile.journal import (
    JournalOutcome,
    SettlementJournalWriter,
    SettlementPlan,
    card_brand,
    imbalance,
    plan_settlement,
)
from paybridge.reconcile.matcher import Expectations, Finding, MatchClass, MatchResult, match
from paybridge.reconcile.report import CLASS_TITLES, ReconciliationReport
from paybridge.reconcile.service import Reconciler
from paybridge.reconcile.settings import (
    BrandAccounts,
    CompanyReconcileSettings,
    ReconcileSettings,
)

__all__ = [
    "CLASS_TITLES",
    "BatchTally",
    "BrandAccounts",
    "Codes",
    "CompanyReconcileSettings",
    "D365Columns",
    "Expectations",
    "Finding",
    "HealAction",
    "JournalOutcome",
    "LedgerColumns",
    "MatchClass",
    "MatchResult",
    "PayTraceColumns",
    "ReconcileSettings",
    "Reconciler",
    "ReconciliationReport",
    "ReportedBatch",
    "SettlementJournalWriter",
    "SettlementPlan",
    "card_brand",
    "heal_envelope",
    "imbalance",
    "match",
    "plan_settlement",
]
