"""The ``/data`` resource: URL parsing (entity set, key predicate, navigation, ``$count``) and
the GET/POST/PATCH/PUT/DELETE handlers, shared by plain requests and ``$batch`` operations.

Answers carry ``OData-Version: 4.0`` and ``application/json; odata.metadata=minimal`` like F&O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote

from paybridge_sandbox.dynamics.auth import Principal
from paybridge_sandbox.dynamics.errors import ODataError, bad_request, not_found
from paybridge_sandbox.dynamics.literals import parse_key_predicate
from paybridge_sandbox.dynamics.metadata import metadata_xml, service_document
from paybridge_sandbox.dynamics.query import (
    Options,
    Reader,
    context_suffix,
    next_link,
    parse_options,
)
from paybridge_sandbox.dynamics.render import Shape, key_segment, render_row
from paybridge_sandbox.dynamics.schema import EntityDef
from paybridge_sandbox.dynamics.state import Sandbox
from paybridge_sandbox.dynamics.store import Key
from paybridge_sandbox.dynamics.values import dumps, fold, parse_datetime

JSON_MINIMAL = "application/json; odata.metadata=minimal"
JSON_FULL = "application/json; odata.metadata=full"
_SEGMENT = re.compile(r"^([A-Za-z_$][\w.$]*)(?:\((.*)\))?$", re.DOTALL)


@dataclass
class Reply:
    """A transport-neutral answer (the ASGI layer and $batch both serialise it)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ODataRequest:
    """One request against ``/data``: method, the path after ``/data/`` (still URL-encoded)."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes
    service_root: str
    principal: Principal


def json_reply(
    status: int, payload: Any, *, full: bool = False, headers: dict[str, str] | None = None
) -> Reply:
    h = {"Content-Type": (JSON_FULL if full else JSON_MINIMAL), "OData-Version": "4.0"}
    h.update(headers or {})
    return Reply(status, dumps(payload), h)


def error_reply(error: ODataError) -> Reply:
    return json_reply(error.status, error.body(), headers=error.headers)


def handle(sandbox: Sandbox, req: ODataRequest) -> Reply:
    """Dispatch one /data request; every failure becomes the F&O error envelope."""
    try:
        return dispatch(sandbox, req)
    except ODataError as exc:
        return error_reply(exc)
    except Exception as exc:
        return error_reply(ODataError(500, f"An unexpected error occurred: {type(exc).__name__}."))


def dispatch(sandbox: Sandbox, req: ODataRequest) -> Reply:
    """Serve one /data request; refusals raise ``ODataError`` (callers decide how to answer)."""
    path = req.raw_path.strip("/")
    if path == "":
        return json_reply(200, service_document(sandbox.schema, req.service_root))
    if path == "$metadata":
        return Reply(
            200,
            metadata_xml(sandbox.schema).encode(),
            {"Content-Type": "application/xml", "OData-Version": "4.0"},
        )
    segments = [unquote(s) for s in path.split("/")]
    m = _SEGMENT.match(segments[0])
    if not m:
        raise not_found(f"Resource not found for the segment '{segments[0]}'.")
    entity = sandbox.engine.entity(m.group(1))
    if m.group(2) is None:
        return _collection(sandbox, req, entity, segments[1:])
    key = resolve_key(sandbox, req, entity, m.group(2))
    if len(segments) == 1:
        return _single(sandbox, req, entity, key)
    if len(segments) == 2 and req.method == "GET":
        return _navigation(sandbox, req, entity, key, segments[1])
    raise not_found(f"Resource not found for the segment '{segments[-1]}'.")


def _params(req: ODataRequest) -> list[tuple[str, str]]:
    return parse_qsl(req.query, keep_blank_values=True)


def _is_full(req: ODataRequest, params: list[tuple[str, str]]) -> bool:
    accept = req.headers.get("accept", "").lower().replace(" ", "")
    fmt = dict(params).get("$format", "").lower().replace(" ", "")
    return "odata.metadata=full" in accept or "odata.metadata=full" in fmt


def _collection(sandbox: Sandbox, req: ODataRequest, entity: EntityDef, rest: list[str]) -> Reply:
    if rest == ["$count"] and req.method == "GET":
        opts = parse_options(_params(req), entity)
        count = len(
            Reader(sandbox.store, sandbox.schema, req.principal.company).matching(entity, opts)
        )
        return Reply(
            200, str(count).encode(), {"Content-Type": "text/plain", "OData-Version": "4.0"}
        )
    if rest:
        raise not_found(f"Resource not found for the segment '{rest[0]}'.")
    if req.method == "GET":
        return _list(sandbox, req, entity)
    if req.method == "POST":
        row = sandbox.engine.create(entity, parse_body(req.body), req.principal.company)
        shape = Shape(req.service_root, None, _is_full(req, _params(req)))
        payload = {"@odata.context": f"{req.service_root}$metadata#{entity.entity_set}/$entity"}
        payload.update(render_row(entity, row, shape))
        location = req.service_root + key_segment(entity, row.values)
        return json_reply(201, payload, full=shape.full, headers={"Location": location})
    raise ODataError(405, f"The HTTP verb {req.method} is not allowed on an entity set.")


def _list(sandbox: Sandbox, req: ODataRequest, entity: EntityDef) -> Reply:
    params = _params(req)
    opts = parse_options(params, entity)
    reader = Reader(sandbox.store, sandbox.schema, req.principal.company)
    rows = reader.matching(entity, opts)
    page_size = sandbox.settings.page_size
    wanted = rows[opts.skip :] if opts.top is None else rows[opts.skip : opts.skip + opts.top]
    page = wanted[:page_size]
    shape = Shape(req.service_root, opts.select, _is_full(req, params))
    payload: dict[str, Any] = {
        "@odata.context": f"{req.service_root}$metadata#{context_suffix(entity, opts)}"
    }
    if opts.count:
        payload["@odata.count"] = len(rows)
    payload["value"] = [_render(reader, entity, r, opts, shape) for r in page]
    if len(wanted) > page_size:
        payload["@odata.nextLink"] = next_link(
            req.service_root + entity.entity_set,
            _paged_params(params, opts, page_size),
            opts.skip + page_size,
        )
    return json_reply(200, payload, full=shape.full)


def _paged_params(
    params: list[tuple[str, str]], opts: Options, page_size: int
) -> list[tuple[str, str]]:
    if opts.top is None:
        return params
    remaining = opts.top - page_size
    return [(k, str(remaining) if k == "$top" else v) for k, v in params]


def _render(
    reader: Reader, entity: EntityDef, row: Any, opts: Options, shape: Shape
) -> dict[str, Any]:
    payload = render_row(entity, row, shape)
    for item in opts.expand or []:
        reader.expand_into(payload, entity, row, item, shape)
    return payload


def _single(sandbox: Sandbox, req: ODataRequest, entity: EntityDef, key: Key) -> Reply:
    if_match = req.headers.get("if-match")
    if req.method == "GET":
        return _read_one(sandbox, req, entity, key)
    if req.method in {"PATCH", "PUT", "MERGE"}:
        sandbox.engine.update(entity, key, parse_body(req.body), if_match)
        return Reply(204, b"", {"OData-Version": "4.0"})
    if req.method == "DELETE":
        sandbox.engine.delete(entity, key, if_match)
        return Reply(204, b"", {"OData-Version": "4.0"})
    raise ODataError(405, f"The HTTP verb {req.method} is not allowed on an entity.")


def _read_one(sandbox: Sandbox, req: ODataRequest, entity: EntityDef, key: Key) -> Reply:
    params = _params(req)
    opts = parse_options(params, entity)
    row = sandbox.store.table(entity.entity_set).get(key)
    if row is None:
        raise not_found(f"Resource not found for the segment '{entity.entity_set}'.")
    shape = Shape(req.service_root, opts.select, _is_full(req, params))
    reader = Reader(sandbox.store, sandbox.schema, req.principal.company)
    payload = {
        "@odata.context": f"{req.service_root}$metadata#{context_suffix(entity, opts)}/$entity"
    }
    payload.update(_render(reader, entity, row, opts, shape))
    return json_reply(200, payload, full=shape.full)


def _navigation(
    sandbox: Sandbox, req: ODataRequest, entity: EntityDef, key: Key, nav_name: str
) -> Reply:
    nav = entity.nav(nav_name)
    row = sandbox.store.table(entity.entity_set).get(key)
    if nav is None or row is None:
        raise not_found(f"Resource not found for the segment '{nav_name}'.")
    target = sandbox.schema.sets[nav.target]
    conditions = " and ".join(f"{t} eq {_filter_literal(row.values.get(s))}" for t, s in nav.on)
    sub = ODataRequest(
        "GET",
        target.entity_set,
        f"cross-company=true&$filter={conditions}",
        req.headers,
        b"",
        req.service_root,
        req.principal,
    )
    return _list(sandbox, sub, target)


def _filter_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Decimal | int):
        return str(value)
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def parse_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null", parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc.msg}.") from None
    except UnicodeDecodeError:
        raise bad_request("The request body is not valid JSON: it is not UTF-8.") from None


def resolve_key(sandbox: Sandbox, req: ODataRequest, entity: EntityDef, predicate: str) -> Key:
    """Key predicate -> store key; other companies need ``cross-company=true`` (setting)."""
    pairs = parse_key_predicate(predicate)
    if len(pairs) == 1 and pairs[0][0] is None and len(entity.keys) == 1:
        pairs = [(entity.keys[0], pairs[0][1])]
    named = {name: value for name, value in pairs if name is not None}
    if len(named) != len(pairs) or set(named) != set(entity.keys):
        raise bad_request(
            f"The number of keys specified in the URI does not match number of key "
            f"properties for the resource '{entity.qualified_type}'."
        )
    key = tuple(fold(_key_value(entity, name, named[name])) for name in entity.keys)
    if entity.company_specific and sandbox.settings.keyed_other_company_needs_cross_company:
        cross = dict(_params(req)).get("cross-company", "").lower() == "true"
        if not cross and fold(named["dataAreaId"]) != fold(req.principal.company):
            raise not_found(f"Resource not found for the segment '{entity.entity_set}'.")
    return key


def _key_value(entity: EntityDef, name: str, value: Any) -> Any:
    fdef = entity.by_name[name]
    if fdef.kind in {"string", "enum"} and isinstance(value, str):
        return value
    if fdef.kind in {"decimal", "int"} and isinstance(value, Decimal):
        return value
    if fdef.kind in {"date", "datetime"} and hasattr(value, "year"):
        text = value.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        return parse_datetime(text, date_only=fdef.kind == "date")
    raise bad_request(
        f"The key value for property '{name}' has the wrong type; expected '{fdef.edm_type}'."
    )
