"""``sync:`` settings: D365 customers <-> PayTrace profiles."""

from __future__ import annotations

from pydantic import Field, SecretStr

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


class CardRequestSettings(Section):
    """Card-on-file requests: signed, expiring links to a page with PayTrace Protect's fields."""

    # Signs the links (HMAC-SHA256): env:NAME or vault:NAME. Unset: no links are issued.
    link_secret: SecretStr | None = None
    # How long a link can be used; it also stops working once a card was put on file with it.
    link_ttl_hours: float = Field(default=72.0, gt=0)
    # Where customers reach `paybridge serve` (e.g. https://pay.example.com); unset: the
    # address serve listens on (web.host, web.port), good for a test only.
    public_url: str | None = None
    # A CustomersV3 field a new link is written into (for the customer's e-mail); unset: none.
    link_field: str | None = None
