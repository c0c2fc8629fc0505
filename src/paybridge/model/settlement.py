"""A PayTrace settlement batch in canonical form: what was deposited for one batch and currency."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field, field_validator, model_validator

from paybridge.model.money import Money
from paybridge.model.validators import to_utc


class SettlementBatch(BaseModel):
    """Totals of one settled batch; ``net_total`` is what reaches the bank before fees."""

    model_config = ConfigDict(frozen=True)

    batch_number: str
    settled_at: datetime
    sales_count: int = 0
    sales_total: Money
    refund_count: int = 0
    refund_total: Money
    fee_total: Money | None = None
    transaction_ids: tuple[str, ...] = ()

    _utc = field_validator("settled_at")(to_utc)

    @model_validator(mode="after")
    def _one_currency(self) -> SettlementBatch:
        others = [self.refund_total] + ([self.fee_total] if self.fee_total else [])
        if any(m.currency != self.sales_total.currency for m in others):
            raise ValueError("all totals of a settlement batch must share one currency")
        if self.sales_count < 0 or self.refund_count < 0:
            raise ValueError("transaction counts cannot be negative")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def currency(self) -> str:
        return self.sales_total.currency

    @computed_field  # type: ignore[prop-decorator]
    @property
    def net_total(self) -> Money:
        """Sales minus refunds minus fees (refund and fee totals are positive amounts)."""
        net = self.sales_total - self.refund_total
        return net - self.fee_total if self.fee_total else net

    @property
    def key(self) -> str:
        return f"paytrace:batch-{self.batch_number}:settlement"
