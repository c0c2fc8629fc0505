"""``billing:`` settings: how often the billing run looks, the billing day's zone, dunning."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from paybridge.config import Section

# D365's CustVendorBlocked members (spec: CustomersV3.OnHoldStatus).
ON_HOLD_MEMBERS = ("No", "Invoice", "All", "Payment", "Requisition", "Never", "PurchOrder")


class DunningSettings(Section):
    """``retry_days``: days after the first refusal of a period at which it is tried again."""

    retry_days: tuple[int, ...] = (1, 3, 7)
    hold_status: str = "All"
    release_status: str = "No"

    @field_validator("retry_days")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 for day in value) or list(value) != sorted(set(value)):
            raise ValueError("retry_days must be increasing whole days of at least 1")
        return value

    @field_validator("hold_status", "release_status")
    @classmethod
    def _member(cls, value: str) -> str:
        if value not in ON_HOLD_MEMBERS:
            raise ValueError(f"{value!r} is not a CustVendorBlocked member: {ON_HOLD_MEMBERS}")
        return value


class BillingSettings(Section):
    """``billing:`` settings: how often the charge run looks, the billing day's zone, dunning."""

    enabled: bool = False
    interval_seconds: float = Field(default=900.0, gt=0)
    # Period dates are calendar days in this zone (PayTrace's merchant zone by default).
    timezone: str = "America/Los_Angeles"
    # After an unanswered charge, PayTrace's export may lag: an absence is trusted only after this.
    in_doubt_grace_seconds: float = Field(default=600.0, ge=0)
    dunning: DunningSettings = DunningSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value
