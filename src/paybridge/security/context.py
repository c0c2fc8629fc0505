"""The security services over one store, built once: vault, API keys, console users and
sessions, audit log, replay guard, limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from paybridge.clock import Clock, SystemClock
from paybridge.errors import ConfigError
from paybridge.security.apikeys import ApiKeys
from paybridge.security.audit import AuditLog
from paybridge.security.auditkeys import AuditKeys, audit_locations
from paybridge.security.keyring import Keyring, load_keyring
from paybridge.security.ratelimit import RateLimiter
from paybridge.security.sessions import Sessions
from paybridge.security.settings import AuditSettings
from paybridge.security.users import Users
from paybridge.security.vault import Vault
from paybridge.security.webhooks import SeenIds, WebhookVerifier

# Charges per second per key, and the burst: a storefront's checkout, not a bulk loader.
CHARGE_RATE = 5.0
CHARGE_BURST = 20


@dataclass
class SecurityContext:
    """What the web app and the CLI need; kept on ``app.state.security``."""

    engine: Engine
    clock: Clock
    api_keys: ApiKeys
    audit: AuditLog
    seen_ids: SeenIds
    charge_limiter: RateLimiter
    users: Users
    sessions: Sessions
    keyring: Keyring | None = None
    keyring_problem: str = ""
    verifiers: dict[str, WebhookVerifier] = field(default_factory=dict)

    @property
    def vault(self) -> Vault:
        """The vault; a ConfigError (naming what to set, nothing secret) when no KEK is set."""
        if self.keyring is None:
            raise ConfigError(self.keyring_problem or "the vault has no key", system="vault")
        return Vault(self.engine, self.keyring, self.clock)

    def verifier(
        self,
        source: str,
        secrets: Callable[[], Sequence[str | bytes]] | Sequence[str | bytes],
    ) -> WebhookVerifier:
        """The signed-event verifier for ``source`` (one per inbound endpoint, shared ids table)."""
        if source not in self.verifiers:
            self.verifiers[source] = WebhookVerifier(
                self.seen_ids, secrets, source=source, clock=self.clock
            )
        return self.verifiers[source]


def open_security(
    engine: Engine,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    keyring: Keyring | None = None,
    charge_rate: float = CHARGE_RATE,
    charge_burst: int = CHARGE_BURST,
    audit: AuditSettings | None = None,
) -> SecurityContext:
    """Security services on a migrated store; the vault works only when a KEK is configured.

    The audit chain's key and anchor are found from ``audit`` (the settings section), the
    environment and the store's location; see ``paybridge.security.auditkeys``.
    """
    clock = clock or SystemClock()
    locations = audit_locations(engine.url, audit, environ)
    problem = ""
    if keyring is None:
        try:
            keyring = load_keyring(environ)
        except ConfigError as exc:
            problem = exc.message  # the app runs without a vault until a key is given
    return SecurityContext(
        engine=engine,
        clock=clock,
        api_keys=ApiKeys(engine, clock),
        audit=AuditLog(engine, clock, locations=locations, keys=AuditKeys(locations, environ)),
        seen_ids=SeenIds(engine),
        charge_limiter=RateLimiter(charge_rate, charge_burst, clock),
        users=Users(engine, clock),
        sessions=Sessions(engine, clock),
        keyring=keyring,
        keyring_problem=problem,
    )
