"""``charging:``, ``paylinks:`` and ``level3:`` settings: how long a charge with a lost reply may still be in flight, the sweep, pay-by-link, Level 2/3."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr

from paybridge.config import Section


class ChargingSettings(Section):
    # "Not found in PayTrace" proves nothing until this long after the send (None: the PayTrace
    # client's timeout plus a minute).
    in_doubt_grace_seconds: float | None = Field(default=None, gt=0)
    # How often charges left pending by a dead process are handed to the resolver.
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    # A key this store never charged is looked up in PayTrace this many days back before its
    # first send: a store restored from a backup (or new) must not charge again what it charged
    # since. 0 turns the look-up off (one PayTrace export request less per new charge).
    first_send_lookback_days: int = Field(default=7, ge=0, le=45)


class PayLinkSettings(Section):
    """Pay-by-link: a signed, expiring link per open D365 invoice to a page with PayTrace
    Protect's hosted fields, where the customer pays the invoice's open amount."""

    # Signs the links (HMAC-SHA256): env:NAME or vault:NAME. Unset: no pay links are issued.
    link_secret: SecretStr | None = None
    # How long a link can be used (a paid invoice shows "paid" for the rest of it).
    link_ttl_hours: float = Field(default=336.0, gt=0)
    # Where customers reach `paybridge serve` (e.g. https://pay.example.com); unset: cards.public_url,
    # else the address serve listens on (web.host, web.port), good for a test only.
    public_url: str | None = None
    # A SalesOrderHeadersV2 field of the invoice's sales order a new link is written into, for
    # the invoice e-mail (F&O's invoice headers are read-only over OData; an invoice report or
    # e-mail template reads its order's field), e.g. URL; unset: none.
    order_field: str | None = None


class Level3Settings(Section):
    """Level 2/3 data from D365 invoice lines: checked before an invoice's sale, sent after it."""

    # Check each invoice sale's Level 2/3 data first and send Level 3 after approval (Visa, MC).
    enabled: bool = False
    # What a failed check (an error finding) does: warn (charge, keep the findings) or block (422).
    on_failure: Literal["warn", "block"] = "warn"
    # A missing PO number (CustomersOrderReference) is an error; false: a warning.
    require_po: bool = True
    # Tax above this share of the lines (after discount) is not plausible.
    max_tax_rate: Decimal = Field(default=Decimal("0.15"), gt=0, le=1)
    # SalesInvoiceHeadersV2 fields of freight and duty (F&O has no standard duty field: unset, 0).
    freight_field: str = "TotalChargeAmount"
    duty_field: str | None = None
    # The merchant's commodity code on Level 3 (Visa), if any.
    commodity_code: str | None = Field(default=None, max_length=12)
    # D365 unit symbols -> Level 3 units of measure (UN/ECE codes; PayTrace accepts EACH too).
    units: dict[str, str] = Field(default_factory=lambda: {"ea": "EACH", "pcs": "PCE", "kg": "KGM"})
