"""DynamicsClient: reads, writes, $batch and services against D365 F&O OData, with one retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from paybridge.clock import Clock, IdFactory, SystemClock, uuid_ids
from paybridge.connectors.dynamics import wire
from paybridge.connectors.dynamics.auth import TokenProvider
from paybridge.connectors.dynamics.batch import (
    BatchOperation,
    ChangesetResult,
    boundary_of,
    build_batch,
    match_results,
    parse_batch_response,
    plan_requests,
)
from paybridge.connectors.dynamics.error_map import SYSTEM, Failure, map_error
from paybridge.connectors.dynamics.limiter import RequestLimiter
from paybridge.connectors.dynamics.literals import key_path
from paybridge.connectors.dynamics.metadata import EdmModel, parse_metadata
from paybridge.connectors.dynamics.principals import Principal, PrincipalPool
from paybridge.connectors.dynamics.query import F, Query, encode_params
from paybridge.connectors.dynamics.usage import CompanyUsage, company_of
from paybridge.errors import ConfigError, FatalError, PayBridgeError, RetryableError

Sleep = Callable[[float], Awaitable[None]]
JSON = "application/json"
_MAX_HINTED_WAIT = 60.0


@dataclass
class Page:
    """One page of a collection read."""

    value: list[dict[str, Any]]
    count: int | None = None
    next_link: str | None = None


@dataclass
class _Call:
    method: str
    url: str
    operation: str
    is_write: bool
    body: bytes | None = None
    headers: dict[str, str] | None = None
    reference: str | None = None
    accept: str = JSON
    allow: frozenset[int] = frozenset()


class DynamicsClient:
    """One F&O environment, one or more principals. Every request goes through ``_send``.

    Each request goes out as the principal of ``principals`` that can send soonest (one
    principal: ``token_provider`` paced by ``limiter``); a 429 pauses that principal only.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        token_provider: TokenProvider | None = None,
        clock: Clock | None = None,
        limiter: RequestLimiter | None = None,
        principals: PrincipalPool | None = None,
        retries: int = 3,
        sleep: Sleep | None = None,
        id_factory: IdFactory | None = None,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        usage: CompanyUsage | None = None,
        keys_per_read: int = 20,
    ) -> None:
        self._http = http
        # How many exact keys a caller's look-up may put in one read (``dynamics.keys_per_read``).
        self.keys_per_read = keys_per_read
        self.base_url = base_url.rstrip("/")
        self.data_url = f"{self.base_url}/data"
        self._clock = clock or SystemClock()
        if principals is None:
            if token_provider is None:
                raise ValueError("DynamicsClient needs a token_provider or principals")
            only = Principal("default", token_provider, limiter)
            principals = PrincipalPool([only], clock=self._clock)
        self.principals = principals
        self._retries = retries
        self._sleep = sleep or asyncio.sleep
        self._ids = id_factory or uuid_ids()
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._metadata: EdmModel | None = None
        # Requests per company, and each company's fair turn while the budget is spent.
        self.usage = usage or CompanyUsage(clock=self._clock)

    # -- reads ---------------------------------------------------------------------------

    async def get(
        self,
        entity_set: str,
        key: Mapping[str, object],
        *,
        select: Sequence[str] | None = None,
        cross_company: bool = False,
    ) -> dict[str, Any] | None:
        """One entity by its full key; ``None`` when F&O answers 404."""
        params = Query(select=select, cross_company=cross_company).params()
        url = self._url(key_path(entity_set, key), params)
        call = _Call("GET", url, f"GET {entity_set}", False, allow=frozenset({404}))
        response = await self._send(call)
        if response.status_code == 404:
            return None
        entity: dict[str, Any] = wire.loads(response.content)
        return entity

    async def page(self, entity_set: str, query: Query | None = None) -> Page:
        """The first page of a collection read, with ``@odata.count`` when asked for."""
        return await self._page(self._url(entity_set, (query or Query()).params()), entity_set)

    async def stream(
        self, entity_set: str, query: Query | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every entity of a collection read, page by page, following ``@odata.nextLink``."""
        url: str | None = self._url(entity_set, (query or Query()).params())
        while url is not None:
            page = await self._page(url, entity_set)
            for entity in page.value:
                yield entity
            url = self._checked_next_link(page.next_link) if page.next_link else None

    async def query(self, entity_set: str, query: Query | None = None) -> list[dict[str, Any]]:
        """Every entity of a collection read (all pages)."""
        return [entity async for entity in self.stream(entity_set, query)]

    async def count(self, entity_set: str, query: Query | None = None) -> int:
        """``/$count``: F&O answers a bare number."""
        params = (query or Query()).for_count().params()
        call = _Call("GET", self._url(f"{entity_set}/$count", params), f"COUNT {entity_set}", False)
        response = await self._send(call)
        return int(response.text.strip().lstrip("\ufeff"))

    async def find_by_reference(
        self, entity_set: str, field: str, value: str, *, company: str | None = None
    ) -> list[dict[str, Any]]:
        """Entities whose ``field`` equals ``value`` exactly: how an in-doubt write is resolved.

        F&O reads ``*`` in an ``eq`` string as a wildcard and compares case-insensitively, so
        the answer is narrowed to exact matches here.
        """
        condition = F(field) == value
        if company is not None:
            condition = condition & (F("dataAreaId") == company)
        rows = await self.query(
            entity_set, Query(filter=condition, cross_company=company is not None)
        )
        return [row for row in rows if row.get(field) == value]

    async def metadata(self) -> EdmModel:
        """The parsed CSDL of ``/data/$metadata`` (fetched once per client)."""
        if self._metadata is None:
            self._metadata = parse_metadata(await self.metadata_document())
        return self._metadata

    async def metadata_document(self) -> bytes:
        """The raw CSDL (EDMX) of ``/data/$metadata``, for tools that read it themselves."""
        url = f"{self.data_url}/$metadata"
        call = _Call("GET", url, "GET $metadata", False, accept="application/xml")
        return (await self._send(call)).content

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """A read-only JSON GET under the environment URL, outside ``/data``: the REST metadata
        service (``Metadata/DataEntities``) and custom-service listings (``api/services/G/S``)."""
        query = encode_params(params)
        url = f"{self.base_url}/{path.lstrip('/')}" + (f"?{query}" if query else "")
        response = await self._send(_Call("GET", url, f"GET {path.split('?')[0]}", False))
        return wire.loads(response.content) if response.content.strip() else None

    # -- writes --------------------------------------------------------------------------

    async def create(
        self, entity_set: str, body: Mapping[str, Any], *, reference: str | None = None
    ) -> dict[str, Any]:
        """POST a new entity; F&O answers 201 with the whole entity, generated keys included."""
        call = _Call(
            "POST",
            f"{self.data_url}/{entity_set}",
            f"POST {entity_set}",
            True,
            body=wire.dumps(body).encode("utf-8"),
            reference=reference,
        )
        response = await self._send(call)
        created: dict[str, Any] = wire.loads(response.content) if response.content else {}
        return created

    async def update(
        self,
        entity_set: str,
        key: Mapping[str, object],
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        cross_company: bool = False,
        reference: str | None = None,
    ) -> None:
        """PATCH the given properties (204); a stale ``if_match`` raises ConcurrencyConflictError."""
        await self._keyed_write("PATCH", entity_set, key, body, if_match, cross_company, reference)

    async def delete(
        self,
        entity_set: str,
        key: Mapping[str, object],
        *,
        if_match: str | None = None,
        cross_company: bool = False,
        reference: str | None = None,
    ) -> None:
        """DELETE one entity (204)."""
        await self._keyed_write("DELETE", entity_set, key, None, if_match, cross_company, reference)

    async def call_service(
        self,
        group: str,
        service: str,
        operation: str,
        body: Mapping[str, Any],
        *,
        idempotent: bool = False,
        reference: str | None = None,
    ) -> Any:
        """POST to a JSON custom service ``/api/services/<group>/<service>/<operation>``.

        A service may write, so it is treated as a write (never resent after an ambiguous
        failure) unless the caller says it is ``idempotent``.
        """
        path = "/".join(quote(part, safe="") for part in (group, service, operation))
        call = _Call(
            "POST",
            f"{self.base_url}/api/services/{path}",
            f"SERVICE {group}/{service}/{operation}",
            not idempotent,
            body=wire.dumps(body).encode("utf-8"),
            reference=reference,
        )
        response = await self._send(call)
        return wire.loads(response.content) if response.content.strip() else None

    async def batch(self, changesets: Sequence[Sequence[BatchOperation]]) -> list[ChangesetResult]:
        """Send changesets through ``$batch`` (up to 5,000 operations per request).

        Returns one result per changeset, in order. A request that fails as a whole gives each
        of its changesets that error: ``InDoubtError`` after a timeout or 5xx on writes. Only a
        ConfigError (credentials, permissions) is raised, since nothing else can succeed then.
        """
        results: list[ChangesetResult] = []
        for indexes in plan_requests(changesets):
            chunk = [changesets[i] for i in indexes]
            results.extend(await self._batch_request(chunk))
        return results

    async def _batch_request(
        self, chunk: Sequence[Sequence[BatchOperation]]
    ) -> list[ChangesetResult]:
        content_type, body, ids = build_batch(chunk, self.data_url, self._ids())
        writes = any(op.is_write for changeset in chunk for op in changeset)
        refs = [op.reference for changeset in chunk for op in changeset if op.reference]
        call = _Call(
            "POST",
            f"{self.data_url}/$batch",
            "$batch",
            writes,
            body=body,
            headers={"Content-Type": content_type, "Prefer": "odata.continue-on-error"},
            reference=",".join(refs) or None,
        )
        try:
            response = await self._send(call)
        except ConfigError:
            raise
        except PayBridgeError as exc:
            return [ChangesetResult(ok=False, error=exc) for _ in chunk]
        boundary = boundary_of(response.headers.get("content-type", ""))
        units = parse_batch_response(response.text, boundary)
        request_id = response.request.headers.get("x-ms-client-request-id")
        return match_results(chunk, ids, units, request_id)

    async def _keyed_write(
        self,
        method: str,
        entity_set: str,
        key: Mapping[str, object],
        body: Mapping[str, Any] | None,
        if_match: str | None,
        cross_company: bool,
        reference: str | None,
    ) -> None:
        url = self._url(key_path(entity_set, key), Query(cross_company=cross_company).params())
        call = _Call(
            method,
            url,
            f"{method} {entity_set}",
            True,
            body=wire.dumps(body).encode("utf-8") if body is not None else None,
            headers={"If-Match": if_match} if if_match else None,
            reference=reference,
        )
        await self._send(call)

    # -- plumbing ------------------------------------------------------------------------

    def _url(self, path: str, params: Sequence[tuple[str, str]]) -> str:
        query = encode_params(params)
        return f"{self.data_url}/{path}" + (f"?{query}" if query else "")

    async def _page(self, url: str, entity_set: str) -> Page:
        response = await self._send(_Call("GET", url, f"GET {entity_set}", False))
        doc = wire.loads(response.content)
        count = doc.get("@odata.count")
        return Page(
            value=list(doc.get("value", [])),
            count=int(count) if count is not None else None,
            next_link=doc.get("@odata.nextLink"),
        )

    def _checked_next_link(self, link: str) -> str:
        # The bearer token goes wherever nextLink points, so it must stay on this environment.
        ours, theirs = urlsplit(self.base_url), urlsplit(link)
        if theirs.netloc.lower() != ours.netloc.lower():
            raise FatalError(
                f"nextLink points at another host ({theirs.netloc})",
                system=SYSTEM,
                operation="GET nextLink",
            )
        return theirs._replace(scheme=ours.scheme).geturl()

    def _retry_after(self, value: str | None) -> float | None:
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - self._clock.now()).total_seconds())

    def _headers(self, call: _Call, token: str, request_id: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": call.accept,
            "x-ms-client-request-id": request_id,
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
        }
        if call.body is not None:
            headers["Content-Type"] = f"{JSON};odata.metadata=minimal"
        headers.update(call.headers or {})
        return headers

    async def _send(self, call: _Call) -> httpx.Response:
        """Send once, replay once after a 401, retry what is safe to retry; else raise."""
        attempt = 0
        replayed = False
        company = company_of(call.url, call.body)
        while True:
            await self.usage.admit(company, self._saturated)
            try:
                principal, ticket = await self.principals.acquire()
            finally:
                self.usage.through()
            self.usage.count(company)
            request_id = self._ids()
            failure = Failure(call.operation, call.is_write, request_id, reference=call.reference)
            try:
                token = await principal.tokens.token()
                response = await self._http.request(
                    call.method,
                    call.url,
                    content=call.body,
                    headers=self._headers(call, token, request_id),
                )
            except httpx.TransportError as exc:
                failure.exception = exc
            else:
                if response.status_code < 400 or response.status_code in call.allow:
                    if principal.limiter is not None:
                        principal.limiter.succeeded()
                    return response
                if response.status_code == 401 and not replayed:
                    # An expired or revoked token: fetch a fresh one and replay exactly once.
                    principal.tokens.invalidate()
                    replayed = True
                    continue
                failure.status = response.status_code
                failure.body = response.text
                failure.headers = dict(response.headers)
                failure.retry_after = self._retry_after(response.headers.get("retry-after"))
            finally:
                principal.release(ticket)
            error = map_error(failure)
            if not isinstance(error, RetryableError) or attempt >= self._retries:
                if isinstance(error, RetryableError) and failure.status == 429:
                    self._note_throttle(principal, error)
                raise error from failure.exception
            attempt += 1
            await self._pause(principal, error, failure, attempt)

    def _saturated(self) -> bool:
        """Whether a call now would have to wait for every principal (budget or pace)."""
        now = self._clock.monotonic()
        return all(p.wait_needed(now) > 0 for p in self.principals.principals)

    def _note_throttle(self, principal: Principal, error: RetryableError) -> None:
        if principal.limiter is not None:
            principal.limiter.throttled(error.retry_after or 0.0)

    async def _pause(
        self, principal: Principal, error: RetryableError, failure: Failure, attempt: int
    ) -> None:
        if failure.status == 429:
            self._note_throttle(principal, error)
            if principal.limiter is not None:
                # The principal's limiter holds its callers until then; the next attempt may
                # go out as another principal that is not paused.
                return
            await self._sleep(error.retry_after or 0.0)
            return
        delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
        if error.retry_after is not None:
            # A 503's Retry-After is a hint; a long one is better left to the queue's retries.
            delay = min(error.retry_after, _MAX_HINTED_WAIT)
        await self._sleep(delay)
