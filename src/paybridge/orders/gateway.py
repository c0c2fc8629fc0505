"""The PayTrace side of one company's card orders: its merchant account's sender, follow-ups
and client. With several merchant accounts each company's orders go through its own (a raw
transaction or profile id means something only within its account)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paybridge.charging.charge_once import ChargeOnce
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.keys import DEFAULT_ACCOUNT, account_transaction
from paybridge.orders.follow_ups import FollowUps


@dataclass(frozen=True)
class Gateway:
    once: ChargeOnce
    follow_ups: FollowUps
    paytrace: PayTraceClient
    account: str = DEFAULT_ACCOUNT  # the merchant account's name ("": the main one)
    # The profile this account charges for a customer's cross-reference source (None: none).
    profile: Callable[[str | None], str | None] = lambda linked: linked

    def ref(self, transaction_id: str) -> str:
        """The transaction in cross-references (``keys.account_transaction``)."""
        return account_transaction(transaction_id, self.account)


Gateways = Callable[[str], Gateway]  # company -> its gateway (DataError: the company has none)
