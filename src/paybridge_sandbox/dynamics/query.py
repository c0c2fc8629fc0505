"""Collection reads: company scope, ``$filter`` (with index probes), ``$orderby``, ``$count``,
``$skip``/``$top``, server paging with an absolute skip-based ``@odata.nextLink``, ``$select``
and one-level ``$expand`` (with nested ``$select``/``$filter``/``$top``), as F&O serves them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from paybridge_sandbox.dynamics.errors import bad_request
from paybridge_sandbox.dynamics.filters import Predicate, compile_filter
from paybridge_sandbox.dynamics.render import Shape, render_row
from paybridge_sandbox.dynamics.schema import EntityDef, NavDef, Schema
from paybridge_sandbox.dynamics.store import Key, Row, Store
from paybridge_sandbox.dynamics.values import fold

_KNOWN = {
    "$filter",
    "$select",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$expand",
    "$format",
    "cross-company",
    "$skiptoken",
    "api-version",
}


@dataclass
class Expand:
    nav: NavDef
    select: tuple[str, ...] | None
    filter: str | None
    top: int | None


@dataclass
class Options:
    """Parsed system query options of one request."""

    filter: str | None = None
    select: tuple[str, ...] | None = None
    orderby: list[tuple[str, bool]] | None = None
    top: int | None = None
    skip: int = 0
    count: bool = False
    expand: list[Expand] | None = None
    cross_company: bool = False


def parse_options(params: list[tuple[str, str]], entity: EntityDef) -> Options:
    opts = Options()
    for name, value in params:
        if name.startswith("$") and name not in _KNOWN:
            raise bad_request(f"The query parameter '{name}' is not supported.")
        _apply_option(opts, name, value, entity)
    return opts


def _apply_option(opts: Options, name: str, value: str, entity: EntityDef) -> None:
    if name == "$filter":
        opts.filter = value
    elif name == "$select":
        opts.select = parse_select(value, entity)
    elif name == "$orderby":
        opts.orderby = _parse_orderby(value, entity)
    elif name == "$top":
        opts.top = _non_negative(name, value)
    elif name == "$skip":
        opts.skip = _non_negative(name, value)
    elif name == "$count":
        opts.count = _boolean(name, value)
    elif name == "$expand":
        opts.expand = parse_expand(value, entity)
    elif name == "cross-company":
        opts.cross_company = value.strip().lower() == "true"


def _non_negative(name: str, value: str) -> int:
    if not value.strip().isdigit():
        raise bad_request(
            f"Invalid value '{value}' for {name} query option found. The {name} "
            "query option requires a non-negative integer value."
        )
    return int(value)


def _boolean(name: str, value: str) -> bool:
    if value.strip().lower() not in {"true", "false"}:
        raise bad_request(f"'{value}' is not a valid count option.")
    return value.strip().lower() == "true"


def parse_select(value: str, entity: EntityDef) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if "*" in names:
        return tuple(f.name for f in entity.fields)
    for name in names:
        if name not in entity.by_name and entity.nav(name) is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type '{entity.qualified_type}'."
            )
    return tuple(n for n in names if n in entity.by_name)


def _parse_orderby(value: str, entity: EntityDef) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in value.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in {"asc", "desc"}):
            raise bad_request(f"Syntax error in $orderby '{value}'.")
        if words[0] not in entity.by_name:
            raise bad_request(
                f"Could not find a property named '{words[0]}' on type '{entity.qualified_type}'."
            )
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def parse_expand(value: str, entity: EntityDef) -> list[Expand]:
    items: list[Expand] = []
    for part in _split_top_level(value):
        m = re.fullmatch(r"\s*(\w+)\s*(?:\((.*)\))?\s*", part, re.DOTALL)
        if not m:
            raise bad_request(f"Syntax error in $expand '{value}'.")
        nav = entity.nav(m.group(1))
        if nav is None:
            raise bad_request(
                f"Could not find a property named '{m.group(1)}' on type '{entity.qualified_type}'."
            )
        items.append(_expand_item(nav, m.group(2) or ""))
    return items


def _expand_item(nav: NavDef, inner: str) -> Expand:
    item = Expand(nav, None, None, None)
    for option in _split_top_level(inner, ";"):
        name, _, value = option.partition("=")
        name = name.strip()
        if name == "$expand":
            raise bad_request("Only first-level expansion is supported.")
        if name == "$select":
            item.select = tuple(n.strip() for n in value.split(",") if n.strip())
        elif name == "$filter":
            item.filter = value
        elif name == "$top":
            item.top = _non_negative(name, value)
        elif name:
            raise bad_request(f"The query option '{name}' is not supported inside $expand.")
    return item


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        quoted = not quoted if ch == "'" else quoted
        if not quoted:
            depth += (ch == "(") - (ch == ")")
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


class Reader:
    """Runs collection reads over the store for one request's company and URL."""

    def __init__(self, store: Store, schema: Schema, company: str) -> None:
        self.store = store
        self.schema = schema
        self.company = company

    def matching(self, entity: EntityDef, opts: Options) -> list[Row]:
        table = self.store.table(entity.entity_set)
        compiled = compile_filter(opts.filter, entity, self.schema) if opts.filter else None
        probes = list(compiled.equalities) if compiled else []
        if entity.company_specific and not opts.cross_company:
            probes.append(("dataAreaId", fold(self.company)))
        keys = self._probe(table.lookup, probes) if probes else None
        rows: Any = table.rows.values() if keys is None else (table.rows[k] for k in keys)
        if entity.company_specific and not opts.cross_company:
            company = fold(self.company)
            rows = (r for r in rows if fold(r.values["dataAreaId"]) == company)
        if compiled is not None:
            predicate: Predicate = compiled.predicate
            rows = (r for r in rows if predicate(r.values))
        result = list(rows)
        if opts.orderby:
            for name, desc in reversed(opts.orderby):
                result.sort(key=_sorter(name), reverse=desc)
        return result

    @staticmethod
    def _probe(lookup: Any, probes: list[tuple[str, Any]]) -> list[Key]:
        best: list[Key] | None = None
        for name, value in probes:
            keys = lookup(name, value)
            if best is None or len(keys) < len(best):
                best = keys
        return best or []

    def expand_into(
        self, payload: dict[str, Any], entity: EntityDef, row: Row, item: Expand, shape: Shape
    ) -> None:
        target = self.schema.sets[item.nav.target]
        probes = [(t, fold(row.values.get(s))) for t, s in item.nav.on]
        table = self.store.table(target.entity_set)
        keys = self._probe(table.lookup, probes)
        rows = [
            table.rows[k]
            for k in keys
            if all(fold(table.rows[k].values.get(t)) == v for t, v in probes)
        ]
        if item.filter:
            predicate = compile_filter(item.filter, target, self.schema).predicate
            rows = [r for r in rows if predicate(r.values)]
        if item.top is not None:
            rows = rows[: item.top]
        sub = Shape(shape.service_root, _nested_select(item, target), shape.full)
        rendered = [render_row(target, r, sub) for r in rows]
        if item.nav.many:
            payload[item.nav.name] = rendered
        else:
            payload[item.nav.name] = rendered[0] if rendered else None


def _nested_select(item: Expand, target: EntityDef) -> tuple[str, ...] | None:
    if item.select is None:
        return None
    return parse_select(",".join(item.select), target)


def _sorter(name: str) -> Any:
    def key(row: Row) -> tuple[int, Any]:
        return _sort_key(row.values.get(name))

    return key


def _sort_key(value: Any) -> tuple[int, Any]:
    folded = fold(value)
    return (0, "") if folded is None else (1, folded)


def context_suffix(entity: EntityDef, opts: Options) -> str:
    """``#Set`` or ``#Set(a,b,Nav,Nav(c,d))`` like the real ``@odata.context``."""
    if opts.select is None and not opts.expand:
        return entity.entity_set
    parts: list[str] = list(opts.select) if opts.select is not None else []
    for item in opts.expand or []:
        if opts.select is not None:
            parts.append(item.nav.name)
        inner = ",".join(item.select) if item.select else ""
        parts.append(f"{item.nav.name}({inner})")
    if opts.select is None:
        parts.insert(0, "*")
    return f"{entity.entity_set}({','.join(parts)})"


def next_link(base: str, params: list[tuple[str, str]], skip: int) -> str:
    """The original query options plus an advanced ``$skip`` (absolute URL)."""
    kept = [(k, v) for k, v in params if k != "$skip"] + [("$skip", str(skip))]
    query = "&".join(f"{quote(k, safe='$-')}={quote(v, safe=',()$*-._~:')}" for k, v in kept)
    return f"{base}?{query}"
