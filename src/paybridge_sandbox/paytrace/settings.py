"""Settings of the PayTrace sandbox and its settable clock (the only source of time it reads)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PayTraceSandboxSettings(BaseModel):
    """What a PayTrace sandbox account looks like; the [U] points of the spec are settings here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = "sandbox"
    password: str = "sandbox"  # noqa: S105 - a public sandbox login, like PayTrace's demo123
    integrator_id: str = "SANDBOX00001"
    token_lifetime_seconds: int = Field(default=7200, gt=0)
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    merchant_timezone: str = "America/Los_Angeles"
    # Spec 3.5/13: the status of success:false bodies is not known for sure.
    decline_http_status: int = 200
    validation_error_http_status: int = 400
    invalid_grant_http_status: int = 400
    # A wrong or missing integrator_id: no public capture shows PayTrace's answer (emulator choice).
    integrator_error_code: str = "981"
    integrator_error_message: str = "Log in failed for insufficient permissions."
    # Calls the API user may not make (answered 981, like a user without refund rights).
    forbidden_paths: frozenset[str] = frozenset()
    state_path: Path | None = None
    faults_profile: str = "none"
    faults_seed: int = 0
    nightly_settlement_time: time | None = time(20, 0)
    recurring_run_time: time = time(0, 30)
    # A charge of a card past its expiry month is declined (102, "EXPIRED CARD - Expired card"),
    # as issuers do; off: only the trigger amounts decline.
    decline_expired_cards: bool = True
    # Spec §9: whether an hpf_token can be used twice is not documented.
    protect_token_single_use: bool = True
    adjust_path: str = "/v1/transactions/adjust"
    # Spec §5.14 names no v1 export of checks [U]: where the emulator serves one.
    check_export_path: str = "/v1/checks/export/by_date_range"
    first_transaction_id: int = 100_000_001
    first_check_transaction_id: int = 900_001
    first_batch_number: int = 1
    first_recurrence_id: int = 1_000_001
    # Write-behind: persist at most this often (seconds of the sandbox's monotonic time).
    persist_interval_seconds: float = 0.5


class SandboxClock:
    """Aware-UTC time that tests and the /_sandbox/clock endpoint can set or move forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        self._fixed: datetime | None = None
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        if self._fixed is not None:
            return self._fixed + self._offset
        return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        """Freeze the clock at ``when``; it then moves only through advance()."""
        if when.tzinfo is None:
            raise ValueError("SandboxClock needs an aware datetime")
        self._fixed = when.astimezone(UTC)
        self._offset = timedelta(0)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += timedelta(seconds=seconds)

    @property
    def frozen(self) -> bool:
        return self._fixed is not None
