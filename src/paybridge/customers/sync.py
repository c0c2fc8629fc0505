"""D365 customers <-> PayTrace profiles, incrementally, and cards only as PayTrace Protect tokens."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from paybridge.connectors.dynamics import DynamicsClient, F, Query
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace import (
    CustomerExportRequest,
    CustomerRecord,
    CustomerUpdateRequest,
    PayTraceClient,
    ProtectCustomerRequest,
)
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.customers.settings import CustomerSyncSettings
from paybridge.errors import DataError
from paybridge.keys import CUSTOMER_CREATE_STEP as CREATE_STEP
from paybridge.keys import CUSTOMER_XREF, account_transaction
from paybridge.keys import D365_CUSTOMERS_CURSOR as D365_CURSOR
from paybridge.keys import PAYTRACE_PROFILES_CURSOR as PAYTRACE_CURSOR
from paybridge.keys import PROFILE_CREATE_STEP as PROFILE_STEP
from paybridge.mapping import CompiledTemplate
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.intents import IntentStore
from paybridge.runtime.ledger import Ledger, Xref

log = logging.getLogger(__name__)

CUSTOMERS = "CustomersV3"
TO_D365_TEMPLATE = "paytrace_customer_to_d365_customer"
TO_PAYTRACE_TEMPLATE = "d365_customer_to_paytrace_customer"
# What PayBridge reads of a D365 customer: what the templates map, nothing else.
_D365_FIELDS = [
    "dataAreaId", "CustomerAccount", "PartyType", "OrganizationName", "PersonFirstName",
    "PersonMiddleName", "PersonLastName", "CustomerGroupId", "AddressStreet", "AddressCity",
    "AddressState", "AddressZipCode", "AddressCountryRegionId", "PrimaryContactEmail",
    "PrimaryContactPhone",
]  # fmt: skip
# What a profile change may rewrite on an existing D365 customer (never its identity or group).
_PROFILE_FIELDS = (
    "OrganizationName", "PersonFirstName", "PersonMiddleName", "PersonLastName", "AddressStreet",
    "AddressCity", "AddressState", "AddressZipCode", "AddressCountryRegionId",
    "PrimaryContactEmail", "PrimaryContactPhone",
)  # fmt: skip


def fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _profile_view(profile: CustomerRecord) -> dict[str, Any]:
    """The profile as a template source: masked card only (export never has more)."""
    return profile.model_dump(mode="json", exclude_none=True)


def _masked(profile: CustomerRecord) -> str:
    return profile.credit_card.masked_number if profile.credit_card else ""


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    waiting: int = 0  # D365 customers with no PayTrace profile yet: one comes with their card
    # Profiles linked to a customer of another company than the account's (several accounts):
    # that company's own merchant account holds its customers' profiles.
    elsewhere: int = 0

    def __str__(self) -> str:
        text = (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.waiting} waiting for a card"
        )
        return text + (f", {self.elsewhere} of another company" if self.elsewhere else "")


class CustomerLinks:
    """The xref between one merchant account's PayTrace profiles and D365 customers, read both
    ways. Another account's profiles are linked as ``<account>/<profile>`` (``others``: the names
    of the accounts besides this one, whose links this one never reads as its own)."""

    def __init__(self, xref: Xref, account: str = "", others: frozenset[str] = frozenset()) -> None:
        self.xref = xref
        self.account = account
        self.others = others

    def account_of(self, profile_id: str) -> tuple[str, str] | None:
        linked = self.xref.get(CUSTOMER_XREF, account_transaction(profile_id, self.account))
        if not linked:
            return None
        company, _, account = linked.partition("/")
        return company, account

    def profiles_by_account(self) -> dict[str, str]:
        """``company/account`` -> this merchant account's profile id (bare)."""
        mine: dict[str, str] = {}
        for source, target in self.xref.all(CUSTOMER_XREF).items():
            owner, slash, bare = source.partition("/")
            if self.account:
                if slash and owner == self.account:
                    mine[target] = bare
            elif not (slash and owner in self.others):
                mine[target] = source
        return mine

    def all_by_account(self) -> dict[str, str]:
        """``company/account`` -> the linked profile, as linked (any merchant account's)."""
        return {target: source for source, target in self.xref.all(CUSTOMER_XREF).items()}

    def link(self, profile_id: str, company: str, account: str) -> None:
        self.xref.link(
            CUSTOMER_XREF, account_transaction(profile_id, self.account), f"{company}/{account}"
        )


@dataclass(frozen=True)
class NewCustomerPolicy:
    """How a customer PayBridge creates in D365 looks (``o2c.new_customer_*`` settings)."""

    group: str = "30"
    party_type: str = "Person"
    # Created accounts are ``<prefix><PayTrace customer id>``: the key is the exactly-once anchor.
    prefix: str = ""


class CustomerCreator:
    """A D365 customer made from a PayTrace profile, once: the account number is the anchor."""

    def __init__(
        self,
        paytrace: PayTraceClient,
        d365: DynamicsClient,
        intents: IntentStore,
        xref: Xref,
        template: CompiledTemplate,
        dynamics: DynamicsSettings,
        policy: NewCustomerPolicy,
        sync: CustomerSyncSettings,
        links: CustomerLinks | None = None,
    ) -> None:
        self.paytrace = paytrace
        self.d365 = d365
        self.intents = intents
        # One merchant account's links (``dynamics.company`` is that account's company).
        self.links = links or CustomerLinks(xref)
        self.template = template
        self.dynamics = dynamics
        self.policy = policy
        self.sync = sync

    async def profile(self, profile_id: str) -> CustomerRecord:
        found = await self.paytrace.export_customers(CustomerExportRequest(customer_id=profile_id))
        exact = [p for p in found if p.customer_id == profile_id]
        if not exact:
            raise DataError(
                f"PayTrace has no customer profile {profile_id!r} to create a D365 customer from",
                fields={"customer_id": profile_id},
            )
        return exact[0]

    def body(self, profile: CustomerRecord, company: str, account: str) -> dict[str, Any]:
        result = self.template.apply(
            _profile_view(profile),
            context={
                "company": company, "customer_group": self.policy.group,
                "customer_account": account, "party_type": self.policy.party_type,
            },
        )  # fmt: skip
        if not result.ok:
            raise DataError(
                f"template {self.template.ref} cannot map PayTrace profile {profile.customer_id}",
                fields=dict(result.errors),
            )
        return {**result.record, **token_fields(self.sync, profile)}

    async def ensure(self, profile_id: str) -> tuple[str, str]:
        """(company, account) of the profile's D365 customer, created when it is missing."""
        company = self.dynamics.company
        account = f"{self.policy.prefix}{profile_id}"
        intent = self.intents.plan(
            f"customer:{account_transaction(profile_id, self.links.account)}", CREATE_STEP,
            "d365", f"{company}/{account}", {},
        )  # fmt: skip
        key = {"dataAreaId": company, "CustomerAccount": account}

        async def send() -> dict[str, Any]:
            body = self.body(await self.profile(profile_id), company, account)
            await self.d365.create(CUSTOMERS, body, reference=account)
            return {"account": account, "how": "created"}

        async def find() -> dict[str, Any] | None:
            row = await self.d365.get(
                CUSTOMERS, key, select=["CustomerAccount"], cross_company=True
            )
            return {"account": account, "how": "found"} if row is not None else None

        await self.intents.execute_once(intent, send, find)
        self.links.link(profile_id, company, account)
        return company, account


def token_fields(sync: CustomerSyncSettings, profile: CustomerRecord) -> dict[str, Any]:
    """The D365 fields that keep the PayTrace customer id and the masked card, as configured."""
    out: dict[str, Any] = {}
    if sync.profile_id_field:
        out[sync.profile_id_field] = profile.customer_id
    masked = _masked(profile)
    if sync.masked_card_field and masked:
        out[sync.masked_card_field] = f"PayTrace card {masked}"
    return out


class CustomerSync:
    """Both directions, each run only what changed since the last (fingerprints in the store)."""

    def __init__(
        self,
        creator: CustomerCreator,
        cursors: Cursors,
        ledger: Ledger,
        to_paytrace: CompiledTemplate,
        settings: CustomerSyncSettings,
        home: str | None = None,
    ) -> None:
        # With several merchant accounts: the main account's company, the only one whose
        # customers this sync (over the main account's profiles) may touch.
        self.home = home
        self.creator = creator
        self.paytrace = creator.paytrace
        self.d365 = creator.d365
        self.links = creator.links
        self.cursors = cursors
        self.ledger = ledger
        self.to_paytrace_template = to_paytrace
        self.settings = settings

    def _seen(self, name: str) -> dict[str, str]:
        stored = self.cursors.get(self._cursor(name))
        loaded: dict[str, str] = json.loads(stored) if stored else {}
        return loaded

    def _store(self, name: str, seen: dict[str, str]) -> None:
        with self.cursors.engine.begin() as conn:
            self.cursors.put(conn, self._cursor(name), json.dumps(seen, sort_keys=True))

    def _cursor(self, name: str) -> str:
        """A cursor of this merchant account (the main account's keep their names)."""
        return f"{name}.{self.links.account}" if self.links.account else name

    async def run(self) -> str:
        parts = []
        if self.settings.to_d365:
            parts.append(f"to D365: {await self.profiles_to_d365()}")
        if self.settings.to_paytrace:
            parts.append(f"to PayTrace: {await self.customers_to_paytrace()}")
        return "; ".join(parts)

    # -- PayTrace -> D365 ------------------------------------------------------------------

    async def profiles_to_d365(self) -> SyncResult:
        result = SyncResult()
        seen = self._seen(PAYTRACE_CURSOR)
        written: dict[str, str] = {}
        for profile in await self.paytrace.export_customers(CustomerExportRequest()):
            mark = fingerprint(_profile_view(profile))
            if seen.get(profile.customer_id) == mark:
                result.unchanged += 1
                continue
            linked = self.links.account_of(profile.customer_id)
            if linked is not None and self.home and linked[0].lower() != self.home.lower():
                result.elsewhere += 1  # never patch another company's customer from this account
                continue
            if linked is None:
                company, account = await self.creator.ensure(profile.customer_id)
                row = await self.d365.get(
                    CUSTOMERS, {"dataAreaId": company, "CustomerAccount": account},
                    select=_D365_FIELDS, cross_company=True,
                )  # fmt: skip
                if row is not None:
                    written[f"{company}/{account}"] = fingerprint(_d365_view(row, self.settings))
                result.created += 1
            else:
                written.update(await self._patch_customer(profile, *linked))
                result.updated += 1
            seen[profile.customer_id] = mark
        self._store(PAYTRACE_CURSOR, seen)
        # What PayBridge just wrote is not a D365 change to send back to PayTrace.
        self._store(D365_CURSOR, {**self._seen(D365_CURSOR), **written})
        return result

    async def _patch_customer(
        self, profile: CustomerRecord, company: str, account: str
    ) -> dict[str, str]:
        key = {"dataAreaId": company, "CustomerAccount": account}
        row = await self.d365.get(CUSTOMERS, key, select=_D365_FIELDS, cross_company=True)
        if row is None:
            raise DataError(f"PayTrace profile {profile.customer_id} is linked to {company}/"
                            f"{account}, which D365 does not have", fields={"account": account})  # fmt: skip
        mapped = self.creator.body(profile, company, account)
        changes = {
            k: v for k, v in mapped.items()
            if (k in _PROFILE_FIELDS or k in token_fields(self.settings, profile)) and row.get(k) != v
        }  # fmt: skip
        after = {f"{company}/{account}": fingerprint(_d365_view({**row, **changes}, self.settings))}
        if not changes:
            return after
        await self.d365.update(CUSTOMERS, key, changes, cross_company=True, reference=account)
        self.ledger.record(
            f"customer:{account_transaction(profile.customer_id, self.links.account)}", "d365.customer_update", system="d365",
            entity=CUSTOMERS, entity_id=f"{company}/{account}", status="updated",
            detail={"fields": sorted(changes)},
        )  # fmt: skip
        return after

    # -- D365 -> PayTrace ------------------------------------------------------------------

    async def customers_to_paytrace(self) -> SyncResult:
        result = SyncResult()
        company = self.creator.dynamics.company
        seen = self._seen(D365_CURSOR)
        profiles = self.links.profiles_by_account()
        for row in await self._d365_customers(company):
            ident = f"{company}/{row['CustomerAccount']}"
            mark = fingerprint(_d365_view(row, self.settings))
            if seen.get(ident) == mark:
                result.unchanged += 1
                continue
            profile_id = profiles.get(ident)
            if profile_id is None:
                result.waiting += 1  # a profile needs a card; it is made when one is attached
                continue
            await self.paytrace.update_customer(self._update_request(row, profile_id))
            result.updated += 1
            seen[ident] = mark
            self.ledger.record(
                f"customer:{account_transaction(profile_id, self.links.account)}", "paytrace.profile_update", system="paytrace",
                entity="customer", entity_id=profile_id, status="updated", detail={"from": ident},
            )  # fmt: skip
        self._store(D365_CURSOR, seen)
        return result

    async def _d365_customers(self, company: str) -> list[dict[str, Any]]:
        condition = F("dataAreaId") == company
        groups = self.settings.customer_groups
        if groups:
            any_group = F("CustomerGroupId") == groups[0]
            for group in groups[1:]:
                any_group = any_group | (F("CustomerGroupId") == group)
            condition = condition & any_group
        select = sorted({*_D365_FIELDS, *self.settings.discretionary_fields})
        return await self.d365.query(
            CUSTOMERS, Query(filter=condition, select=select, cross_company=True)
        )

    def profile_body(self, row: dict[str, Any], profile_id: str) -> dict[str, Any]:
        """A D365 customer as PayTrace profile fields (name joined, street split, custom fields)."""
        result = self.to_paytrace_template.apply(row)
        if not result.ok:
            raise DataError(
                f"template {self.to_paytrace_template.ref} cannot map {row.get('CustomerAccount')}",
                fields=dict(result.errors),
            )
        body = {**result.record, "customer_id": profile_id}
        extra = {
            key: str(row[field]) for field, key in self.settings.discretionary_fields.items()
            if row.get(field) not in (None, "")
        }  # fmt: skip
        if extra:
            body["discretionary_data"] = extra
        return body

    def _update_request(self, row: dict[str, Any], profile_id: str) -> CustomerUpdateRequest:
        return CustomerUpdateRequest.model_validate(self.profile_body(row, profile_id))


def _d365_view(row: dict[str, Any], settings: CustomerSyncSettings) -> dict[str, Any]:
    fields = {*_D365_FIELDS, *settings.discretionary_fields}
    return {k: row.get(k) for k in sorted(fields)}


@dataclass(frozen=True)
class CardOnFile:
    """What PayBridge and D365 keep of a card: the PayTrace profile id and the masked number."""

    profile_id: str
    masked_card: str
    created: bool


class CardTokens:
    """Cards arrive as PayTrace Protect tokens: PayBridge hands out the client key, the browser
    sends the card to PayTrace, and PayBridge forwards only ``hpf_token``/``enc_key``."""

    def __init__(
        self, sync: CustomerSync, intents: IntentStore, accounts: PayTraceAccounts | None = None
    ) -> None:
        self.sync = sync
        self.intents = intents
        # Every merchant account: a customer's card goes on file in its company's account.
        self.accounts = accounts

    def _merchant(self, company: str | None) -> MerchantAccount | None:
        if self.accounts is None or company is None or not self.accounts.several:
            return None
        return self.accounts.for_company(company)

    def _client(self, merchant: MerchantAccount | None) -> PayTraceClient:
        return merchant.client if merchant is not None else self.sync.paytrace

    async def client_key(self, company: str | None = None) -> str:
        """Protect's key from the account the card will be put on file in (``company``'s)."""
        return await self._client(self._merchant(company)).create_client_key()

    async def attach_card(
        self, company: str, account: str, hpf_token: SecretStr, enc_key: SecretStr
    ) -> CardOnFile:
        """Create the customer's PayTrace profile with this card, or replace the profile's card."""
        ident = f"{company}/{account}"
        row = await self.sync.d365.get(
            CUSTOMERS, {"dataAreaId": company, "CustomerAccount": account},
            select=sorted({*_D365_FIELDS, *self.sync.settings.discretionary_fields}),
            cross_company=True,
        )  # fmt: skip
        if row is None:
            raise DataError(f"D365 has no customer {ident}", fields={"account": account})
        merchant = self._merchant(company)
        client = self._client(merchant)
        linked = self.sync.links.all_by_account().get(ident)
        profile_id = (
            self.accounts.profile_of(linked, merchant)
            if merchant is not None and self.accounts is not None
            else linked
        )
        created = profile_id is None
        if profile_id is None:
            profile_id = account
            name = merchant.name if merchant is not None else ""
            await self._create(row, profile_id, hpf_token, enc_key, client, name)
            self.sync.links.link(account_transaction(profile_id, name), company, account)
        else:
            request = self._protect_request(row, profile_id, hpf_token, enc_key)
            await client.update_customer_pt_protect(request)
        found = await client.export_customers(CustomerExportRequest(customer_id=profile_id))
        exact = [p for p in found if p.customer_id == profile_id]
        if not exact:
            raise DataError(f"PayTrace has no customer profile {profile_id!r}",
                            fields={"customer_id": profile_id})  # fmt: skip
        profile = exact[0]
        fields = token_fields(self.sync.settings, profile)
        if fields:
            await self.sync.d365.update(
                CUSTOMERS, {"dataAreaId": company, "CustomerAccount": account}, fields,
                cross_company=True, reference=account,
            )  # fmt: skip
        self.sync.ledger.record(
            f"customer:{profile_id}", "paytrace.card", system="paytrace", entity="customer",
            entity_id=profile_id, status="created" if created else "replaced",
            detail={"account": ident, "masked_card": _masked(profile)},
        )  # fmt: skip
        return CardOnFile(profile_id, _masked(profile), created)

    def _protect_request(
        self, row: dict[str, Any], profile_id: str, hpf_token: SecretStr, enc_key: SecretStr
    ) -> ProtectCustomerRequest:
        body = self.sync.profile_body(row, profile_id)
        return ProtectCustomerRequest.model_validate(
            {**body, "hpf_token": hpf_token, "enc_key": enc_key}
        )

    async def _create(
        self, row: dict[str, Any], profile_id: str, hpf_token: SecretStr, enc_key: SecretStr,
        client: PayTraceClient, account: str = "",
    ) -> None:  # fmt: skip
        # The tokens are never kept: the intent holds only the profile id.
        intent = self.intents.plan(
            f"profile:{account_transaction(profile_id, account)}", PROFILE_STEP, "paytrace",
            profile_id, {},
        )  # fmt: skip

        async def send() -> dict[str, Any]:
            request = self._protect_request(row, profile_id, hpf_token, enc_key)
            await client.create_customer_pt_protect(request)
            return {"profile_id": profile_id}

        async def find() -> dict[str, Any] | None:
            found = await client.export_customers(CustomerExportRequest(customer_id=profile_id))
            exists = any(p.customer_id == profile_id for p in found)
            return {"profile_id": profile_id} if exists else None

        await self.intents.execute_once(intent, send, find)
