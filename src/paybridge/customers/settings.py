"""``sync:`` settings: D365 customers <-> PayTrace profiles."""

from __future__ import annotations

from pydantic import Field

from paybridge.config import Section


class CustomerSyncSettings(Section):
    """D365 customers <-> PayTrace profiles, incrementally; cards only as Protect tokens."""

    enabled: bool = False
    interval_seconds: float = Field(default=300.0, gt=0)
    to_paytrace: bool = True
    to_d365: bool = True
    # D365 customer groups pushed to PayTrace; empty means every customer of the company.
    customer_groups: tuple[str, ...] = ()
    # CustomersV3 fields that keep the PayTrace customer id and the masked card (standard
    # fields by default; an environment with extension fields names those instead).
    profile_id_field: str | None = "MerchantID"
    masked_card_field: str | None = "SalesMemo"
    # D365 field -> PayTrace discretionary_data key (define the keys in PayTrace first).
    discretionary_fields: dict[str, str] = Field(default_factory=dict)
