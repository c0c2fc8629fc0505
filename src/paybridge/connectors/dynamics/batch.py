"""OData ``$batch``: multipart/mixed changesets out, every response part back to its operation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from paybridge.connectors.dynamics import wire
from paybridge.connectors.dynamics.error_map import Failure, map_error
from paybridge.connectors.dynamics.literals import key_path
from paybridge.errors import FatalError, PayBridgeError, RetryableError

MAX_OPERATIONS = 5000  # F&O's service-protection doc: "A batch can contain up to 5000 operations"
CRLF = "\r\n"
Method = Literal["POST", "PATCH", "PUT", "DELETE", "GET"]
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_STATUS_LINE = re.compile(r"HTTP/\d(?:\.\d)?\s+(\d{3})")


@dataclass(frozen=True)
class BatchOperation:
    """One request inside a changeset; ``reference`` is what to search for if it ends in doubt."""

    method: Method
    entity_set: str
    key: dict[str, object] | None = None
    body: dict[str, Any] | None = None
    content_id: str | None = None
    if_match: str | None = None
    reference: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method in _WRITES


@dataclass
class OperationResult:
    """The status, parsed JSON body and headers of one inner response."""

    status: int
    body: Any
    headers: dict[str, str]
    content_id: str | None = None
    raw: str = field(default="", repr=False)


@dataclass
class ChangesetResult:
    """The outcome of one changeset: all its operations succeeded (``ok``) or none did.

    On failure ``results`` holds the part(s) F&O sent back for the changeset (usually one, whose
    Content-ID is not reliably the failing operation) and ``error`` says how to react.
    """

    ok: bool
    results: list[OperationResult] = field(default_factory=list)
    error: PayBridgeError | None = None

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class _Part:
    headers: dict[str, str]
    body: str


def plan_requests(
    changesets: Sequence[Sequence[BatchOperation]], limit: int = MAX_OPERATIONS
) -> list[list[int]]:
    """Group changeset indexes into requests of at most ``limit`` operations, never splitting one."""
    requests: list[list[int]] = []
    size = limit + 1
    for index, changeset in enumerate(changesets):
        if not changeset:
            raise ValueError(f"changeset {index} is empty")
        if len(changeset) > limit:
            raise ValueError(f"changeset {index} has {len(changeset)} operations (max {limit})")
        if any(op.method == "GET" for op in changeset) and len(changeset) > 1:
            raise ValueError(f"changeset {index}: a GET travels alone, outside any changeset")
        if size + len(changeset) > limit:
            requests.append([])
            size = 0
        requests[-1].append(index)
        size += len(changeset)
    return requests


def _inner_request(op: BatchOperation, data_url: str, content_id: str) -> str:
    path = key_path(op.entity_set, op.key) if op.key else op.entity_set
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        f"Content-ID: {content_id}",
        "",
        f"{op.method} {data_url}/{path} HTTP/1.1",
        "OData-Version: 4.0",
        "OData-MaxVersion: 4.0",
        "Accept: application/json;odata.metadata=minimal",
    ]
    if op.if_match:
        lines.append(f"If-Match: {op.if_match}")
    if op.body is not None:
        lines += ["Content-Type: application/json;odata.metadata=minimal", "", wire.dumps(op.body)]
    else:
        lines.append("")
    return CRLF.join(lines) + CRLF


def build_batch(
    changesets: Sequence[Sequence[BatchOperation]], data_url: str, boundary_id: str
) -> tuple[str, bytes, list[list[str]]]:
    """The ``Content-Type``, the body and, per changeset, the Content-IDs given to its operations."""
    batch = f"batch_{boundary_id}"
    out: list[str] = []
    ids: list[list[str]] = []
    counter = 0
    for n, changeset in enumerate(changesets):
        cs_ids = []
        for op in changeset:
            counter += 1
            cs_ids.append(op.content_id or str(counter))
        ids.append(cs_ids)
        if changeset[0].method == "GET":
            out.append(f"--{batch}{CRLF}{_inner_request(changeset[0], data_url, cs_ids[0])}")
            continue
        cs = f"changeset_{boundary_id}_{n}"
        out.append(f"--{batch}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}")
        for op, cid in zip(changeset, cs_ids, strict=True):
            out.append(f"--{cs}{CRLF}{_inner_request(op, data_url, cid)}")
        out.append(f"--{cs}--{CRLF}")
    out.append(f"--{batch}--{CRLF}")
    return f"multipart/mixed; boundary={batch}", "".join(out).encode("utf-8"), ids


def boundary_of(content_type: str) -> str | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _split_multipart(text: str, boundary: str) -> list[str]:
    # Line by line rather than by regex: every changeset has its own boundary, and compiling
    # a pattern per changeset dominated the parse of a 5,000-part response.
    opening, closing = f"--{boundary}", f"--{boundary}--"
    parts: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n \t")
        if bare in (opening, closing):
            if current is not None:
                joined = "".join(current)
                # The line break before a delimiter belongs to the delimiter, not the part.
                parts.append(joined[:-2] if joined.endswith("\r\n") else joined.removesuffix("\n"))
            if bare == closing:
                break
            current = []
        elif current is not None:
            current.append(line)
    return parts


def _split_head(text: str) -> tuple[list[str], str]:
    blank = re.search(r"\r?\n\r?\n", text)
    head, body = (text, "") if blank is None else (text[: blank.start()], text[blank.end() :])
    return [line for line in re.split(r"\r?\n", head) if line], body


def _parse_part(text: str) -> _Part:
    lines, body = _split_head(text)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return _Part(headers, body)


def _parse_inner_response(part: _Part) -> OperationResult:
    lines, body = _split_head(part.body)
    match = _STATUS_LINE.match(lines[0]) if lines else None
    if match is None:
        raise ValueError("batch part without an HTTP status line")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    parsed: Any = None
    if body.strip():
        try:
            parsed = wire.loads(body)
        except ValueError:
            parsed = body
    content_id = part.headers.get("content-id")
    return OperationResult(int(match.group(1)), parsed, headers, content_id, raw=body)


def parse_batch_response(text: str, boundary: str | None = None) -> list[list[OperationResult]]:
    """Every top-level part, each as the list of inner responses (one for a failed changeset)."""
    if boundary is None:
        sniffed = re.search(r"(?m)^--([^\s]+?)\s*$", text)
        if sniffed is None:
            raise ValueError("no multipart boundary in the $batch response")
        boundary = sniffed.group(1)
    units: list[list[OperationResult]] = []
    for raw in _split_multipart(text, boundary):
        part = _parse_part(raw)
        inner = boundary_of(part.headers.get("content-type", ""))
        if inner and part.headers.get("content-type", "").lower().startswith("multipart/"):
            units.append(
                [_parse_inner_response(_parse_part(p)) for p in _split_multipart(part.body, inner)]
            )
        else:
            units.append([_parse_inner_response(part)])
    return units


def _part_error(result: OperationResult, operation: str, request_id: str | None) -> PayBridgeError:
    failure = Failure(
        operation=operation,
        is_write=False,  # F&O answered for the changeset: it was rolled back, not left in doubt
        request_id=request_id,
        status=result.status,
        body=result.raw,
        headers=result.headers,
    )
    return map_error(failure)


def match_results(
    changesets: Sequence[Sequence[BatchOperation]],
    ids: Sequence[Sequence[str]],
    units: Sequence[Sequence[OperationResult]],
    request_id: str | None,
) -> list[ChangesetResult]:
    """Pair each changeset with its response unit, operations matched by Content-ID."""
    out: list[ChangesetResult] = []
    for n, changeset in enumerate(changesets):
        error: PayBridgeError
        if n >= len(units):
            error = RetryableError(
                "not processed: F&O stopped the batch at an earlier failure",
                system="dynamics",
                operation="$batch",
                request_id=request_id,
            )
            out.append(ChangesetResult(ok=False, error=error))
            continue
        unit = list(units[n])
        failed = [r for r in unit if r.status >= 400]
        op = f"$batch {changeset[0].method} {changeset[0].entity_set}"
        if failed:
            error = _part_error(failed[0], op, request_id)
            out.append(ChangesetResult(ok=False, results=unit, error=error))
            continue
        if len(unit) != len(changeset):
            message = f"F&O answered {len(unit)} parts for {len(changeset)} operations"
            error = FatalError(message, system="dynamics", operation=op, request_id=request_id)
            out.append(ChangesetResult(ok=False, results=unit, error=error))
            continue
        by_id = {r.content_id: r for r in unit}
        ordered = [by_id.get(cid) for cid in ids[n]]
        results = unit if None in ordered else [r for r in ordered if r is not None]
        out.append(ChangesetResult(ok=True, results=results))
    return out
