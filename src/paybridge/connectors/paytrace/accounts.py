"""The merchant accounts of an installation: each one's client, and the legal entity it serves.

The main ``paytrace:`` account (name ``""``, shown as ``default``) is bound to
``dynamics.company``; each of ``paytrace.accounts`` to its own company. With no other account
configured, the main one serves every company (as PayBridge always did)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from paybridge.connectors.paytrace.client import PayTraceClient
from paybridge.errors import DataError


@dataclass(frozen=True)
class MerchantAccount:
    """One PayTrace merchant account as PayBridge uses it."""

    name: str  # "" for the main account (its keys are unqualified)
    company: str  # the D365 legal entity it is bound to (dataAreaId, lower case)
    client: PayTraceClient
    currency: str
    timezone: str
    bank_account: str

    @property
    def label(self) -> str:
        return self.name or "default"


class PayTraceAccounts:
    """Account name -> account, company -> account; built once by the composition root."""

    def __init__(self, default: MerchantAccount, others: Sequence[MerchantAccount] = ()) -> None:
        self.default = default
        self.others = list(others)
        self._by_name = {a.name: a for a in [default, *self.others]}
        self._by_company = {a.company.lower(): a for a in [default, *self.others]}

    def __iter__(self) -> Iterator[MerchantAccount]:
        return iter([self.default, *self.others])

    def __len__(self) -> int:
        return 1 + len(self.others)

    @property
    def several(self) -> bool:
        """More than one account: each serves its own company only."""
        return bool(self.others)

    def named(self, name: str) -> MerchantAccount:
        found = self._by_name.get("" if name == "default" else name)
        if found is None:
            known = ", ".join(a.label for a in self)
            raise DataError(
                f"no PayTrace merchant account {name!r} (known: {known})",
                fields={"account": name},
            )
        return found

    def for_company(self, company: str) -> MerchantAccount:
        """The account that charges and collects for ``company``; with one account, that one.
        A company without an account (when there are several) is refused: a payment is never
        taken through another company's merchant account."""
        if not self.several:
            return self.default
        found = self._by_company.get(company.lower())
        if found is None:
            known = ", ".join(sorted(self._by_company))
            raise DataError(
                f"company {company!r} has no PayTrace merchant account (paytrace.accounts "
                f"serves: {known})",
                fields={"company": company},
            )
        return found

    def profile_of(self, linked: str | None, account: MerchantAccount) -> str | None:
        """The PayTrace profile id ``account`` charges for a customer linked from ``linked``
        (the cross-reference's source): a profile of another account is linked as
        ``<name>/<profile>`` and is ``account``'s only under its own name; a bare id is taken
        as it is (it may hold a slash of its own)."""
        if linked is None or not self.several:
            return linked
        owner, slash, bare = linked.partition("/")
        if not slash or owner not in {a.name for a in self.others}:
            return linked
        return bare if owner == account.name else None

    def serves(self, account: str, company: str) -> bool:
        """Whether a payment of ``account`` may be credited in ``company``: with one account
        any company (as before), with several only the account's own."""
        if not self.several:
            return True
        return self.named(account).company.lower() == company.lower()
