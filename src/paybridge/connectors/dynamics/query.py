"""The OData query builder: filter expressions (F, &, |, ~), Query options and their URL encoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from paybridge.connectors.dynamics.literals import render_literal

# Query values are percent-encoded by us, not by httpx, so that a space is %20 (never '+',
# which the server would read as a plus sign in a literal) and '&', '#', '%' never leak.
_VALUE_SAFE = "$',():/*@=;"


class Expr:
    """A boolean filter expression; combine with ``&``, ``|`` and ``~``."""

    def render(self) -> str:
        raise NotImplementedError

    def __and__(self, other: Expr) -> Expr:
        return _Binary("and", self, other)

    def __or__(self, other: Expr) -> Expr:
        return _Binary("or", self, other)

    def __invert__(self) -> Expr:
        return _Not(self)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, eq=False)
class _Binary(Expr):
    op: str
    left: Expr
    right: Expr

    def render(self) -> str:
        return f"{_group(self.left, self.op)} {self.op} {_group(self.right, self.op)}"


@dataclass(frozen=True, eq=False)
class _Not(Expr):
    inner: Expr

    def render(self) -> str:
        return f"not ({self.inner.render()})"


@dataclass(frozen=True, eq=False)
class _Compare(Expr):
    field: str
    op: str
    literal: str

    def render(self) -> str:
        return f"{self.field} {self.op} {self.literal}"


@dataclass(frozen=True, eq=False)
class Raw(Expr):
    """A filter written by hand; the caller owns its correctness."""

    text: str

    def render(self) -> str:
        return self.text


def _group(expr: Expr, parent_op: str) -> str:
    # 'and' binds tighter than 'or': only a child of a different operator needs brackets.
    if isinstance(expr, _Binary) and expr.op != parent_op:
        return f"({expr.render()})"
    return expr.render()


class F:
    """A property in a filter: ``F("PaymentReference") == "123"`` -> ``PaymentReference eq '123'``."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        if not name or any(c in name for c in " '()"):
            raise ValueError(f"not a property name: {name!r}")
        self.name = name

    def _cmp(self, op: str, value: object) -> Expr:
        return _Compare(self.name, op, render_literal(value))

    def __eq__(self, value: object) -> Expr:  # type: ignore[override]
        return self._cmp("eq", value)

    def __ne__(self, value: object) -> Expr:  # type: ignore[override]
        return self._cmp("ne", value)

    def __lt__(self, value: object) -> Expr:
        return self._cmp("lt", value)

    def __le__(self, value: object) -> Expr:
        return self._cmp("le", value)

    def __gt__(self, value: object) -> Expr:
        return self._cmp("gt", value)

    def __ge__(self, value: object) -> Expr:
        return self._cmp("ge", value)

    def wildcard(self, pattern: str) -> Expr:
        """F&O's "contains": ``'*'`` in an ``eq`` string is a wildcard (``F("X").wildcard("*abc*")``)."""
        return self._cmp("eq", pattern)


@dataclass(frozen=True)
class Expand:
    """One level of ``$expand`` with an optional nested ``$select`` (F&O expands one level only)."""

    navigation: str
    select: Sequence[str] | None = None

    def render(self) -> str:
        if self.select:
            return f"{self.navigation}($select={','.join(self.select)})"
        return self.navigation


@dataclass(frozen=True)
class Query:
    """Query options for a collection read."""

    filter: Expr | str | None = None
    select: Sequence[str] | None = None
    orderby: Sequence[str] | None = None
    top: int | None = None
    skip: int | None = None
    expand: Sequence[Expand | str] | None = None
    count: bool = False
    cross_company: bool = False

    def params(self) -> list[tuple[str, str]]:
        """The options as (name, value) pairs, in a stable order."""
        out: list[tuple[str, str]] = []
        if self.filter is not None:
            text = self.filter if isinstance(self.filter, str) else self.filter.render()
            out.append(("$filter", text))
        if self.select:
            out.append(("$select", ",".join(self.select)))
        if self.expand:
            parts = [e if isinstance(e, str) else e.render() for e in self.expand]
            out.append(("$expand", ",".join(parts)))
        if self.orderby:
            out.append(("$orderby", ",".join(self.orderby)))
        if self.top is not None:
            out.append(("$top", str(self.top)))
        if self.skip is not None:
            out.append(("$skip", str(self.skip)))
        if self.count:
            out.append(("$count", "true"))
        if self.cross_company:
            out.append(("cross-company", "true"))
        return out

    def for_count(self) -> Query:
        """The options that still mean something on ``/$count``."""
        return Query(filter=self.filter, cross_company=self.cross_company)


def encode_params(params: Sequence[tuple[str, str]]) -> str:
    """``$filter=A%20eq%20'x'&cross-company=true``: a query string F&O parses as meant."""
    return "&".join(f"{name}={quote(value, safe=_VALUE_SAFE)}" for name, value in params)
