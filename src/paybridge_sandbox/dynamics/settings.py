"""Settings and the injectable clock of the D365 F&O sandbox.

Behaviours the spec marks uncertain are settings here, defaulting to the most likely real one:
keyed access to another company without ``cross-company=true`` (404), unescaped ``-`` inside a
customer/bank display value (refused), If-Match (checked when sent, not required), a journal line
created without a line number (numbered one past the journal's highest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from paybridge_sandbox.dynamics.protection import ThrottleSettings


class SandboxClock:
    """Aware-UTC time for the sandbox: wall clock plus an offset, or frozen when started at a time.

    ``advance`` moves it forward (tests, and the ``/_sandbox/clock/advance`` admin endpoint).
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("SandboxClock needs an aware datetime")
        self._frozen = start.astimezone(UTC) if start else None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        base = self._frozen if self._frozen is not None else datetime.now(UTC)
        return base + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += timedelta(seconds=seconds)


@dataclass(frozen=True)
class ClientRegistration:
    """An Entra app registration plus its row in F&O's "Microsoft Entra ID applications" page.

    ``user_id`` None means the app authenticates at Entra but is not mapped in F&O (403).
    """

    client_id: str
    client_secret: str
    user_id: str | None = "Admin"
    default_company: str = "usmf"


def _default_clients() -> tuple[ClientRegistration, ...]:
    return (ClientRegistration("sandbox-client", "sandbox-secret"),)


@dataclass(frozen=True)
class DynamicsSandboxSettings:
    """Everything configurable about the sandbox; the defaults mirror a USMF demo environment."""

    tenant: str = "sandbox-tenant"
    clients: tuple[ClientRegistration, ...] = field(default_factory=_default_clients)
    authority_host: str = "login.microsoftonline.com"
    # Environment URL used in @odata.context / nextLink; None = the URL the request came in on.
    base_url: str | None = None
    # None accepts any "<resource>/.default" scope; else the resource must be one of these.
    resources: tuple[str, ...] | None = None
    token_lifetime_seconds: int = 3599
    # Service protection per principal (spec §2.12); None: no limits (ThrottleSettings.fno()
    # for F&O's documented ones).
    throttle: ThrottleSettings | None = None
    # Emulated F&O work: each request takes this long per operation (a $batch: per part),
    # awaited without blocking the sandbox; charged as execution time. 0: no emulated work.
    work_seconds_per_operation: float = 0.0
    page_size: int = 10_000
    max_batch_operations: int = 5000
    state_path: Path | None = None
    fault_profile: str | None = None
    if_match: Literal["check", "require", "ignore"] = "check"
    keyed_other_company_needs_cross_company: bool = True
    unescaped_display_values: Literal["reject", "accept"] = "reject"
    # A journal line created without LineNumber: numbered one past the journal's highest
    # ("assign", as the F&O client does for a person) or refused ("require"). The spec leaves
    # open which the OData entity does; PayBridge always sends a number and works with both.
    journal_line_numbers: Literal["assign", "require"] = "assign"
    # Extension fields of the deployment (``EntitySet.Field[:Edm.Type]``): real environments add
    # their own; none by default (the 2025 reference metadata only).
    extension_fields: tuple[str, ...] = ()
    seed: bool = True
    rng_seed: int | None = None

    def client(self, client_id: str) -> ClientRegistration | None:
        return next((c for c in self.clients if c.client_id == client_id), None)
