"""Enrichment: templates read D365 (customer, order) through an injected lookup and a bounded cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

KNOWN_ENRICH_KINDS = frozenset(
    {"customer_by_account", "customer_by_paytrace_id", "sales_order_by_invoice"}
)

_MISSING = object()


@runtime_checkable
class Enricher(Protocol):
    """Reads one record of the other system by a key; ``None`` when there is no such record."""

    def lookup(self, kind: str, key: str) -> Mapping[str, Any] | None: ...


class CachingEnricher:
    """An LRU cache in front of an ``Enricher``, bounded by ``maxsize`` entries.

    Misses are not cached by default: a customer missing now may be created a minute later.
    Exceptions are never cached (a transient D365 failure must be retried, not remembered).
    """

    def __init__(self, inner: Enricher, *, maxsize: int = 1024, cache_misses: bool = False) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._inner = inner
        self._maxsize = maxsize
        self._cache_misses = cache_misses
        self._entries: OrderedDict[tuple[str, str], Mapping[str, Any] | None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def lookup(self, kind: str, key: str) -> Mapping[str, Any] | None:
        slot = (kind, key)
        found = self._entries.get(slot, _MISSING)
        if found is not _MISSING:
            self._entries.move_to_end(slot)
            self.hits += 1
            return found  # type: ignore[return-value]
        self.misses += 1
        value = self._inner.lookup(kind, key)
        frozen = None if value is None else MappingProxyType(dict(value))
        if frozen is not None or self._cache_misses:
            self._entries[slot] = frozen
            if len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return frozen

    def invalidate(self, kind: str | None = None, key: str | None = None) -> None:
        """Forget one entry, one kind, or everything (e.g. after PayBridge wrote that record)."""
        if kind is None:
            self._entries.clear()
            return
        for slot in [s for s in self._entries if s[0] == kind and (key is None or s[1] == key)]:
            del self._entries[slot]

    def __len__(self) -> int:
        return len(self._entries)
