"""The admin API (admin role): API keys, vault metadata, the audit log; and the security wiring.

Vault values never leave through the API: secrets are set with ``paybridge vault set`` on the
host, so they never cross HTTP, and here only their metadata can be read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field

from paybridge.errors import ConfigError
from paybridge.security.context import SecurityContext
from paybridge.security.vault import Vault
from paybridge.web.auth import (
    AUTH_RESPONSES,
    ApiRefusal,
    ErrorBody,
    Principal,
    audit,
    install_auth,
    require_role,
    security_of,
)
from paybridge.web.guard import install_card_guard

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=AUTH_RESPONSES)
Admin = Annotated[Principal, Depends(require_role("admin"))]
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such item"}
}
NO_VAULT: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "The vault has no key-encryption key configured"}
}


class KeyOut(BaseModel):
    key_id: str
    role: Literal["viewer", "operator", "admin"]
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreate(BaseModel):
    role: Literal["viewer", "operator", "admin"]
    label: str = Field(default="", max_length=200)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class KeyIssued(BaseModel):
    token: str = Field(description="The API key. Shown this once; PayBridge keeps only a hash.")
    key: KeyOut


class SecretMetaOut(BaseModel):
    name: str
    kek_id: str
    version: int
    created_at: datetime
    updated_at: datetime


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    client: str
    outcome: str
    detail: dict[str, Any]
    hash: str
    key_id: str = Field(description="The audit key the row's HMAC is under; empty: legacy row.")


class VerifyOut(BaseModel):
    ok: bool
    rows: int
    head_hash: str
    bad_seq: int | None = Field(description="The first bad row; None when the tail is missing.")
    problem: str
    legacy_rows: int = Field(description="Rows from before the chain had a key (sealed).")
    anchored_seq: int | None = Field(description="The row the anchor file names.")
    key_ids: list[str] = Field(description="The audit keys the rows are signed with.")


class WhoAmI(BaseModel):
    key_id: str
    role: str


@router.get("/whoami", response_model=WhoAmI)
def whoami(principal: Viewer) -> WhoAmI:
    """The calling key's id and role (any role)."""
    return WhoAmI(key_id=principal.key.key_id, role=principal.key.role)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(request: Request, principal: Admin) -> list[dict[str, object]]:
    return [key.to_dict() for key in security_of(request).api_keys.all()]


@router.post("/keys", response_model=KeyIssued, status_code=201)
def create_key(request: Request, principal: Admin, body: KeyCreate) -> dict[str, object]:
    """A new key; the token is in this answer only."""
    issued = security_of(request).api_keys.create(
        body.role, label=body.label, expires_days=body.expires_days
    )
    audit(request, principal.actor, "keys.create", target=f"key:{issued.key.key_id}",
          detail={"role": body.role, "expires_days": body.expires_days})  # fmt: skip
    return {"token": issued.token, "key": issued.key.to_dict()}


@router.delete("/keys/{key_id}", response_model=KeyOut, responses=NOT_FOUND)
def revoke_key(
    request: Request, principal: Admin, key_id: Annotated[str, Path(max_length=32)]
) -> dict[str, object]:
    keys = security_of(request).api_keys
    revoked = keys.revoke(key_id)
    record = keys.get(key_id)
    outcome = "ok" if revoked else "not_found"
    audit(request, principal.actor, "keys.revoke", target=f"key:{key_id}", outcome=outcome)
    if record is None or not revoked:
        raise ApiRefusal(404, "no active key with that id")
    return record.to_dict()


def _vault(request: Request) -> Vault:
    try:
        return security_of(request).vault
    except ConfigError as exc:
        raise ApiRefusal(503, exc.message) from None


@router.get("/vault", response_model=list[SecretMetaOut], responses=NO_VAULT)
def list_secrets(request: Request, principal: Admin) -> list[dict[str, object]]:
    """Names and metadata of the vault's secrets; never a value."""
    return [meta.to_dict() for meta in _vault(request).all()]


@router.get("/vault/{name}", response_model=SecretMetaOut, responses={**NOT_FOUND, **NO_VAULT})
def secret_meta(request: Request, principal: Admin, name: str) -> dict[str, object]:
    meta = _vault(request).meta(name)
    if meta is None:
        raise ApiRefusal(404, "no secret with that name")
    return meta.to_dict()


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    request: Request,
    principal: Admin,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    """Audit rows, newest first; ``action`` matches a prefix."""
    since, until = _aware(since, "since"), _aware(until, "until")
    rows = security_of(request).audit.search(
        actor=actor, action=action, outcome=outcome, since=since, until=until, limit=limit
    )
    # Reading the audit trail is itself audited (PCI DSS 10.2.1.3), with what was asked for.
    asked = {"actor": actor, "action": action, "outcome": outcome, "since": since,
             "until": until, "limit": limit, "rows": len(rows)}  # fmt: skip
    audit(request, principal.actor, "audit.list", target="audit", detail=asked)
    return [row.to_dict() for row in rows]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiRefusal(422, f"{name}: give a time zone (e.g. 2026-01-05T17:00:00Z)")
    return value


@router.get("/audit/verify", response_model=VerifyOut)
def verify_audit(request: Request, principal: Admin) -> dict[str, object]:
    """Walk the hash chain; name the first row that was edited, deleted or moved."""
    report = security_of(request).audit.verify()
    audit(request, principal.actor, "audit.verify", target="audit",
          outcome="ok" if report.ok else "broken",
          detail={"rows": report.rows, "bad_seq": report.bad_seq})  # fmt: skip
    return vars(report)


def install_security(app: FastAPI, security: SecurityContext, *, admin: bool = True) -> None:
    """Everything this module's security needs on an app: services, card guard, 401/403, routes."""
    app.state.security = security
    install_auth(app)
    install_card_guard(app)
    if admin:
        app.include_router(router)
