"""Daily settlement reconciliation: PayTrace batches vs D365 payment lines vs the ledger, heal, journals."""

from paybridge.flows.reconcile.batches import BatchTally, ReportedBatch
from paybridge.flows.reconcile.columns import Codes, D365Columns, LedgerColumns, PayTraceColumns
from paybridge.flows.reconcile.heal import HealAction, heal_envelope
from paybridge.flows.reconcile.journal import (
    JournalOutcome,
    SettlementJournalWriter,
    SettlementPlan,
    card_brand,
    imbalance,
    plan_settlement,
)
from paybridge.flows.reconcile.matcher import Expectations, Finding, MatchClass, MatchResult, match
from paybridge.flows.reconcile.report import CLASS_TITLES, ReconciliationReport
from paybridge.flows.reconcile.service import Reconciler
from paybridge.flows.reconcile.settings import (
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
