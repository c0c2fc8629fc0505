"""Go-live: the access check (``paybridge check``) of both systems before PayBridge runs.

Holds what the check looks at (``AccessPlan``, built by ``app`` from the settings), the checks
of PayTrace (``paytrace``), of D365 (``dynamics``) and of the clocks (``skew``), and the report
(``report``) with one line per check and the fix, in words naming the setting, for each ✗.
It contributes no handler or job; ``app.golive`` runs it for ``paybridge check`` and before
``worker``/``serve`` start (only definite refusals of essentials stop them).
"""

from paybridge.golive.plan import AccessPlan, EntityNeed, FieldNeed, RecordNeed
from paybridge.golive.report import AccessReport, CheckResult

__all__ = ["AccessPlan", "AccessReport", "CheckResult", "EntityNeed", "FieldNeed", "RecordNeed"]
