"""``reconcile:`` settings: companies' accounts, the settlement journal, the morning job."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import Field, field_validator

from paybridge.config import Section
from paybridge.errors import ConfigError

# The card brands a PayTrace BIN can be told apart by; "other" takes everything unrecognised.
BRANDS = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "other")


class BrandAccounts(Section):
    """Overrides for one card brand (Amex often deposits to its own account)."""

    bank_account: str | None = None
    clearing_account: str | None = None


class CompanyReconcileSettings(Section):
    """How one legal entity books a PayTrace deposit: clearing ledger account -> bank account."""

    bank_account: str = "USMF OPER"
    # Main account (ledger display value) the customer payments were booked against.
    clearing_account: str = "110180"
    brands: dict[str, BrandAccounts] = Field(default_factory=dict)
    journal_name: str = "GenJrn"
    # strftime format of the company's dates in reports (USMF: US month/day/year).
    date_format: str = "%m/%d/%Y"
    # The company's time zone for report timestamps; None = dynamics.timezone.
    timezone: str | None = None

    @field_validator("brands")
    @classmethod
    def _known_brands(cls, value: dict[str, BrandAccounts]) -> dict[str, BrandAccounts]:
        unknown = sorted(set(value) - set(BRANDS))
        if unknown:
            raise ValueError(f"unknown card brands {unknown}; use {', '.join(BRANDS)}")
        return value

    def accounts(self, brand: str) -> tuple[str, str]:
        """(bank account, clearing account) for ``brand``, falling back to the company's."""
        override = self.brands.get(brand) or BrandAccounts()
        return (
            override.bank_account or self.bank_account,
            override.clearing_account or self.clearing_account,
        )


class ReconcileSettings(Section):
    """``reconcile:`` in the settings file."""

    companies: dict[str, CompanyReconcileSettings] = Field(
        default_factory=lambda: {"usmf": CompanyReconcileSettings()}
    )
    # A line in a journal nobody posted yet is reported ("settled in PayTrace, unposted in D365").
    require_posted: bool = True
    # Write one settlement general journal per PayTrace batch (exactly once).
    settlement_journal: bool = True
    journal_description: str = "PayBridge settlement batch {batch}"
    # How far back PayTrace is read for the state of transactions that are not in the day's
    # batches (pending, voided), and for card BINs.
    lookback_days: int = Field(default=7, ge=0, le=31)
    # PaymentReference values per OData $filter (URL length stays well below F&O's limits).
    reference_chunk: int = Field(default=40, ge=1, le=200)
    # The morning job: reconcile yesterday at this merchant-local time (None: off).
    schedule_at: time | None = time(6, 0)
    heal_on_schedule: bool = False
    # The morning job reports; it writes settlement journals only when this says so as well
    # (a journal moves money between ledger accounts: a person turns that on, knowing the
    # accounts under ``companies`` are the tenant's, not the defaults).
    journal_on_schedule: bool = False
    reports_dir: Path | None = None

    @field_validator("journal_description")
    @classmethod
    def _has_batch(cls, value: str) -> str:
        if "{batch}" not in value:
            raise ValueError(
                "journal_description must contain {batch}: it is the exactly-once anchor"
            )
        return value

    def company(self, name: str) -> CompanyReconcileSettings:
        found = self.companies.get(name) or self.companies.get(name.lower())
        if found is None:
            raise ConfigError(
                f"reconcile.companies has no entry for company {name!r}", operation="settings"
            )
        return found


# D365's CustVendorBlocked members (spec: CustomersV3.OnHoldStatus).
