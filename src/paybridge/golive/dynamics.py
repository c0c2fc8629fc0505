"""D365's part of the access check: the environment URL, the token, each entity set PayBridge
reads and writes (from ``$metadata``, the ``/Metadata`` service and a ``$top=0`` probe), the
records the settings name, the fields templates and settings name, the posting service."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from paybridge.connectors.dynamics import DynamicsClient, EdmModel, F, Query, TokenProvider
from paybridge.errors import ConfigError, PayBridgeError
from paybridge.golive.plan import AccessPlan, EntityNeed, RecordNeed
from paybridge.golive.report import CheckResult, failed, from_error, ok

SYSTEM = "d365"
MappingCheck = Callable[[bytes], list[str]]
# Entra ID's AADSTS codes (stable, documented) -> the setting to fix, and how.
_TOKEN_FIXES = (
    (("AADSTS90002", "invalid_tenant", "discovery failed"), "dynamics.tenant",
     "Entra ID does not know this tenant: set dynamics.tenant to the directory (tenant) id "
     "of the app registration"),
    (("AADSTS7000215", "AADSTS7000222", "invalid_client"), "dynamics.client_secret",
     "Entra ID refused the client secret: put the secret's Value (not its ID) in "
     "dynamics.client_secret (as env:NAME or vault:NAME); an expired secret needs a new one"),
    (("AADSTS700016", "unauthorized_client"), "dynamics.client_id",
     "Entra ID has no such application in this tenant: check dynamics.client_id (the "
     "Application (client) ID) and dynamics.tenant"),
    (("AADSTS500011", "invalid_resource", "invalid_scope"), "dynamics.base_url",
     "Entra ID knows no resource at dynamics.base_url: set it to the environment URL, "
     "e.g. https://contoso.operations.dynamics.com"),
)  # fmt: skip


def base_url_problem(base_url: str) -> CheckResult:
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.lower().endswith("/data") or "/data/" in parts.path.lower():
        return failed(
            SYSTEM, "environment URL", f"{base_url} ends in /data",
            f"set dynamics.base_url to {parts.scheme}://{parts.netloc} (PayBridge adds /data itself)",
            "dynamics.base_url", essential=True,
        )  # fmt: skip
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return failed(
            SYSTEM, "environment URL", f"{base_url!r} is not a URL",
            "set dynamics.base_url to the environment URL, e.g. https://contoso.operations.dynamics.com",
            "dynamics.base_url", essential=True,
        )  # fmt: skip
    return ok(SYSTEM, "environment URL", base_url, essential=True)


# AD FS's MSIS codes (as AD FS answers them) -> the setting to fix, and how.
_ADFS_TOKEN_FIXES = (
    (("MSIS9607",), "dynamics.client_id",
     "AD FS has no client with this identifier: set dynamics.client_id to the client identifier "
     "of the server application in the F&O application group"),
    (("MSIS9622", "invalid_client"), "dynamics.client_secret",
     "AD FS refused the client secret: put the server application's shared secret in "
     "dynamics.client_secret (as env:NAME or vault:NAME); a reset secret needs the new one"),
    (("MSIS9602", "invalid_resource"), "dynamics.adfs_resource",
     "AD FS knows no such resource: set dynamics.adfs_resource to the application group's Web "
     "API identifier (by default dynamics.base_url, the AOS URL)"),
    (("MSIS9605", "unauthorized_client", "access_denied"), "dynamics.client_id",
     "AD FS does not let this client reach F&O: grant the server application on the "
     "application group's Web API (Client permissions)"),
)  # fmt: skip


async def check_token(tokens: TokenProvider, auth: str = "entra") -> CheckResult:
    adfs = auth == "adfs"
    issuer = "AD FS" if adfs else "Entra ID"
    try:
        await tokens.token()
    except PayBridgeError as exc:
        text = exc.message
        for needles, setting, fix in _ADFS_TOKEN_FIXES if adfs else _TOKEN_FIXES:
            if isinstance(exc, ConfigError) and any(n in text for n in needles):
                return from_error(SYSTEM, "token", exc, fix, setting, essential=True)
        if adfs:
            fix, setting = (
                "no token from AD FS: set dynamics.adfs_url to the AD FS server "
                "(e.g. https://adfs.contoso.com) and check the network", "dynamics.adfs_url",
            )  # fmt: skip
        else:
            fix, setting = (
                "no token from Entra ID: check dynamics.authority_host, dynamics.tenant and "
                "the network", "dynamics.authority_host",
            )  # fmt: skip
        return from_error(SYSTEM, "token", exc, fix, setting, essential=True)
    return ok(SYSTEM, "token", f"issued by {issuer}", essential=True)


def _access_fix(exc: PayBridgeError, client_id: str) -> tuple[str, str]:
    if exc.status == 404:
        return (
            "no OData service there: set dynamics.base_url to the environment URL",
            "dynamics.base_url",
        )
    if exc.status in (401, 403):
        return (
            f"F&O refuses the app: register dynamics.client_id {client_id!r} under System "
            "administration > Setup > Microsoft Entra ID applications, with a user that has "
            "the roles PayBridge needs",
            "dynamics.client_id",
        )
    return "D365 did not answer: try again; check dynamics.base_url", "dynamics.base_url"


class DynamicsCheck:
    """The D365 checks of one plan, over one client."""

    def __init__(self, client: DynamicsClient, plan: AccessPlan, client_id: str) -> None:
        self.client = client
        self.plan = plan
        self.client_id = client_id
        self.read_only: dict[str, bool] = {}

    async def metadata(self) -> tuple[CheckResult, bytes | None, EdmModel | None]:
        try:
            document = await self.client.metadata_document()
            model = await self.client.metadata()
        except PayBridgeError as exc:
            fix, setting = _access_fix(exc, self.client_id)
            return from_error(SYSTEM, "$metadata", exc, fix, setting, essential=True), None, None
        detail = f"{len(model.entity_sets)} entity sets"
        return ok(SYSTEM, "$metadata", detail, essential=True), document, model

    async def data_entities(self) -> CheckResult:
        """Read-only flags of the needed sets from the ``/Metadata`` service (one request)."""
        names = sorted({need.entity_set for need in self.plan.entities})
        condition = " or ".join(f"PublicCollectionName eq '{n}'" for n in names)
        params = [("$filter", condition), ("$select", "PublicCollectionName,IsReadOnly")]
        try:
            reply = await self.client.get_json("Metadata/DataEntities", params)
        except PayBridgeError as exc:
            fix = "the /Metadata service did not answer; write rights are judged from $metadata"
            return from_error(
                SYSTEM, "metadata service", exc, fix, "dynamics.base_url", essential=False
            )
        rows: Sequence[Any] = reply.get("value", []) if isinstance(reply, dict) else []
        for row in rows:
            self.read_only[str(row.get("PublicCollectionName"))] = bool(row.get("IsReadOnly"))
        return ok(SYSTEM, "metadata service", f"{len(rows)} of {len(names)} entities described")

    async def entity(self, need: EntityNeed, model: EdmModel) -> CheckResult:
        name = f"{need.entity_set} ({'read, write' if need.write else 'read'})"
        if need.entity_set not in model.entity_sets:
            return failed(
                SYSTEM, name, f"not in $metadata ({need.why})",
                "the environment lacks this public entity: check dynamics.base_url points at "
                "Finance and Operations and the entity is enabled", "dynamics.base_url",
                essential=need.essential,
            )  # fmt: skip
        if need.write and self._read_only(need.entity_set, model):
            return failed(
                SYSTEM, name, "read-only in the metadata", f"PayBridge writes it ({need.why}): "
                "use an environment where the entity is writable", "dynamics.base_url",
                essential=need.essential,
            )  # fmt: skip
        try:
            await self.client.page(need.entity_set, Query(top=0, cross_company=True))
        except PayBridgeError as exc:
            fix, setting = _access_fix(exc, self.client_id)
            return from_error(SYSTEM, name, exc, fix, setting, essential=need.essential)
        return ok(SYSTEM, name, need.why, essential=need.essential)

    def _read_only(self, entity_set: str, model: EdmModel) -> bool:
        if entity_set in self.read_only:
            return self.read_only[entity_set]
        type_name = model.entity_sets[entity_set].entity_type.rsplit(".", 1)[-1]
        entity = model.entity_types.get(type_name)
        return entity is not None and not any(p.allow_edit for p in entity.properties.values())

    async def record(self, need: RecordNeed) -> CheckResult:
        key = dict(need.key)
        label = ", ".join(f"{v}" for v in key.values())
        condition = None
        for fname, value in need.key:
            term = F(fname) == value
            condition = term if condition is None else condition & term
        company_scoped = "dataAreaId" in key
        try:
            rows = await self.client.query(
                need.entity_set, Query(filter=condition, top=1, cross_company=company_scoped)
            )
        except PayBridgeError as exc:
            fix, setting = _access_fix(exc, self.client_id)
            return from_error(SYSTEM, need.what, exc, fix, setting, essential=need.essential)
        found = [
            r for r in rows if all(str(r.get(k, "")).lower() == v.lower() for k, v in need.key)
        ]
        if not found:
            known = await self._known(need)
            hint = f" ({need.hint})" if need.hint else ""
            return failed(
                SYSTEM, need.what, f"{label} not found in {need.entity_set}",
                f"set {need.setting} to one that exists{hint}{known}", need.setting,
                essential=need.essential,
            )  # fmt: skip
        wrong = [(k, v, found[0].get(k)) for k, v in need.expect if str(found[0].get(k)) != v]
        if wrong:
            field, want, got = wrong[0]
            return failed(
                SYSTEM, need.what, f"{label} has {field} {got}, not {want}",
                f"set {need.setting} to one whose {field} is {want}", need.setting,
                essential=need.essential,
            )  # fmt: skip
        return ok(SYSTEM, need.what, label, essential=need.essential)

    async def _known(self, need: RecordNeed) -> str:
        """A few values that do exist, to put in the fix (best effort)."""
        last = need.key[-1][0]
        company = dict(need.key).get("dataAreaId")
        condition = F("dataAreaId") == company if company else None
        for field_name, want in need.expect:
            term = F(field_name) == want
            condition = term if condition is None else condition & term
        try:
            rows = await self.client.page(
                need.entity_set,
                Query(filter=condition, select=[last], top=8, cross_company=company is not None),
            )
        except PayBridgeError:
            return ""
        values = sorted({str(r.get(last)) for r in rows.value if r.get(last)})
        return f"; {need.entity_set} has: {', '.join(values)}" if values else ""

    def fields(self, model: EdmModel, problems: Callable[[], list[str]]) -> list[CheckResult]:
        results: list[CheckResult] = []
        for need in self.plan.fields:
            entity_set = model.entity_sets.get(need.entity_set)
            type_name = entity_set.entity_type.rsplit(".", 1)[-1] if entity_set else ""
            entity = model.entity_types.get(type_name)
            name = f"field {need.entity_set}.{need.field}"
            if entity is None or need.field not in entity.properties:
                results.append(failed(
                    SYSTEM, name, "not in $metadata",
                    f"deploy the extension field, or change {need.setting}", need.setting,
                    essential=True,
                ))  # fmt: skip
            else:
                results.append(ok(SYSTEM, name, "present", essential=True))
        found = problems()
        if found:
            results.append(failed(
                SYSTEM, "mapping templates", f"{len(found)} problem(s): {found[0]}",
                "fix the template (mapping.templates_dir) or deploy the fields it names; "
                "`paybridge mapping check` lists every problem", "mapping.templates_dir",
                essential=True,
            ))  # fmt: skip
        else:
            results.append(ok(SYSTEM, "mapping templates", "agree with $metadata", essential=True))
        return results

    async def posting_service(self) -> CheckResult | None:
        path = self.plan.posting_service
        if not path:
            return None
        group, _, rest = path.partition("/")
        service, _, operation = rest.partition("/")
        name = "posting service"
        try:
            reply = await self.client.get_json(f"api/services/{group}/{service}")
        except PayBridgeError as exc:
            fix = (
                f"no service {group}/{service}: set o2c.posting_service to Group/Service/operation"
            )
            return from_error(SYSTEM, name, exc, fix, "o2c.posting_service", essential=False)
        listed = reply.get("Operations", []) if isinstance(reply, dict) else []
        if operation not in {str(op.get("Name")) for op in listed if isinstance(op, dict)}:
            return failed(
                SYSTEM, name, f"{group}/{service} has no operation {operation!r}",
                "set o2c.posting_service to Group/Service/operation", "o2c.posting_service",
            )  # fmt: skip
        return ok(SYSTEM, name, path)


async def check_dynamics(
    client: DynamicsClient,
    tokens: TokenProvider,
    plan: AccessPlan,
    client_id: str,
    mapping_check: MappingCheck,
) -> list[CheckResult]:
    base = base_url_problem(client.base_url)
    if base.status == "fail":
        return [base]
    token = await check_token(tokens, plan.d365_auth)
    if token.status == "fail":
        return [base, token]
    check = DynamicsCheck(client, plan, client_id)
    meta, document, model = await check.metadata()
    results = [base, token, meta]
    if model is None or document is None:
        return results
    results.append(await check.data_entities())
    for entity in plan.entities:
        results.append(await check.entity(entity, model))
    company = next((r for r in plan.records if r.entity_set == "LegalEntities"), None)
    for need in plan.records:
        result = await check.record(need)
        results.append(result)
        if need is company and result.status == "fail":
            break  # every other record is looked for in that company
    results.extend(check.fields(model, lambda: mapping_check(document)))
    posting = await check.posting_service()
    if posting is not None:
        results.append(posting)
    return results
