"""The visual mapping designer: pick a template; source fields of a sample on the left, the
target's fields from D365's live ``$metadata`` on the right; assign a source (through a function)
or type an expression; preview the mapped record with per-field errors and ``mapping check`` as
you edit (htmx); save a new version (operator) with its diff; dry-run it over the last real
payments; promote it (admin). Everything goes through ``paybridge.mapping`` and the desk."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paybridge.console.designer import MappingDesk, Sample
from paybridge.errors import PayBridgeError
from paybridge.mapping import CompiledTemplate, FieldSchema, compile_text, default_registry, origin
from paybridge.mapping.designer import assignment, source_fields, text_diff
from paybridge.security.cardguard import redact
from paybridge.web.console.render import page
from paybridge.web.console.session import ConsoleRefusal, Visitor, needs, posted, services

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
FORM_LIMIT = 256 * 1024  # one row of controls per field of the target entity
ViewerPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("viewer", FORM_LIMIT))]
OperatorPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("operator", FORM_LIMIT))]
AdminPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("admin"))]
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
SAMPLES = 5
DRY_RUN_DEFAULT, DRY_RUN_MAX = 20, 200
ONE_ARGUMENT = [
    name for name in default_registry().names()
    if (spec := default_registry().get(name)) and spec.min_args <= 1 and (spec.max_args or 9) >= 1
]  # fmt: skip


REFERENCE = [
    (name, spec.summary, spec.min_args, spec.max_args)
    for name in default_registry().names() if (spec := default_registry().get(name))
]  # fmt: skip


@dataclass(frozen=True)
class TargetField:
    name: str
    expression: str
    schema: FieldSchema | None

    @property
    def mapped(self) -> bool:
        return bool(self.expression)


def desk_of(request: Request) -> MappingDesk:
    desk = services(request).designer
    if desk is None:
        raise ConsoleRefusal(404, "the mapping designer is not set up on this server")
    return desk


def _template(desk: MappingDesk, name: str, version: str = "") -> CompiledTemplate:
    try:
        templates = desk.templates()
        return templates.get(name, int(version) if version.isdigit() else None)
    except KeyError:
        raise ConsoleRefusal(
            404, f"no template {name}" + (f"@{version}" if version else "")
        ) from None


@router.get("/mapping", response_class=HTMLResponse)
async def templates(request: Request, who: Viewer, done: str = "") -> Response:
    desk = desk_of(request)
    found = await asyncio.to_thread(desk.templates)
    rows = [(t, found.in_use(t), origin(t)) for t in found]
    saved = {name: await asyncio.to_thread(desk.versions.of, name) for name in found.names()}
    return page(request, "mapping.html", visitor=who, nav="mapping", rows=rows, saved=saved,
                done=done == "promoted")  # fmt: skip


async def _targets(desk: MappingDesk, base: CompiledTemplate) -> tuple[list[TargetField], str]:
    """The target's fields: from ``$metadata`` for D365 (with the template's own first), else the
    template's fields; and why the metadata could not be read, if it could not."""
    mapped = {rule.name: rule.expression for rule in base.fields}
    problem, schema_fields = "", {}
    if base.target.system == "d365":
        try:
            entity = (await desk.schemas()).get(base.target.name)
            schema_fields = dict(entity.fields) if entity else {}
            if entity is None:
                problem = f"D365 has no entity set {base.target.name} in $metadata"
        except PayBridgeError as exc:
            problem = f"D365's $metadata could not be read: {exc.message}"
    names = list(dict.fromkeys([*mapped, *sorted(n for n, f in schema_fields.items() if f.required),
                                *sorted(schema_fields)]))  # fmt: skip
    return [TargetField(n, mapped.get(n, ""), schema_fields.get(n)) for n in names], problem


async def _samples(desk: MappingDesk, base: CompiledTemplate) -> tuple[list[Sample], str]:
    try:
        return await desk.samples(base, SAMPLES), ""
    except PayBridgeError as exc:
        return [], f"no sample could be read: {exc.message}"


def _chosen_sample(samples: list[Sample], form: dict[str, str]) -> tuple[Sample, str]:
    """The sample the form names: a pasted JSON object, or one of the recent ones."""
    pasted = form.get("sample_json", "").strip()
    if pasted:
        try:
            value = json.loads(pasted)
        except json.JSONDecodeError as exc:
            return Sample("pasted", {}), f"sample_json: not JSON ({exc.msg}, line {exc.lineno})"
        except RecursionError:
            return Sample("pasted", {}), "sample_json: nested too deeply"
        if not isinstance(value, dict):
            return Sample("pasted", {}), "sample_json: a JSON object is needed"
        return Sample("pasted record", redact(value)), ""
    index = form.get("sample", "0")
    chosen = int(index) if index.isdigit() and int(index) < len(samples) else 0
    return (samples[chosen] if samples else Sample("none: paste a record", {})), ""


def assignments_of(fields: list[TargetField], form: dict[str, str]) -> dict[str, str | None]:
    """What the form changes: a new expression per field, ``None`` to unmap one."""
    changes: dict[str, str | None] = {}
    for target in fields:
        new = assignment(form.get(f"src.{target.name}", ""), form.get(f"fn.{target.name}", ""),
                         form.get(f"expr.{target.name}", target.expression))  # fmt: skip
        if new != target.expression:
            changes[target.name] = new or None
    extra = form.get("new.name", "").strip()
    if extra and FIELD_NAME.fullmatch(extra):
        new = assignment(form.get("new.src", ""), form.get("new.fn", ""), form.get("new.expr", ""))
        if new:
            changes[extra] = new
    return changes


@router.get("/mapping/{name}", response_class=HTMLResponse)
async def designer(request: Request, who: Viewer, name: str, base: str = "") -> Response:
    desk = desk_of(request)
    template = await asyncio.to_thread(_template, desk, name, base)
    fields, schema_problem = await _targets(desk, template)
    samples, sample_problem = await _samples(desk, template)
    sample, _ = _chosen_sample(samples, {})
    result = desk.preview(template, sample)
    return page(request, "mapping_designer.html", visitor=who, nav="mapping", base=template,
                fields=fields, samples=samples, sample=sample, sources=source_fields(sample.source),
                functions=ONE_ARGUMENT, reference=REFERENCE, schema_problem=schema_problem,
                sample_problem=sample_problem, result=result, changes={}, problems=[],
                checks=None, form={}, can_suggest=_can_suggest(request))  # fmt: skip


def _can_suggest(request: Request) -> bool:
    """Whether insight's mapping suggestions are mounted (``insight.enabled``)."""
    return getattr(request.app.state, "mapping_suggest", None) is not None


async def _draft(request: Request, name: str, form: dict[str, str]) -> dict[str, Any]:
    desk = desk_of(request)
    base = await asyncio.to_thread(_template, desk, name, form.get("base", ""))
    fields, schema_problem = await _targets(desk, base)
    samples, sample_problem = await _samples(desk, base)
    sample, pasted_problem = _chosen_sample(samples, form)
    changes = assignments_of(fields, form)
    extra = form.get("new.name", "").strip()
    if extra and not FIELD_NAME.fullmatch(extra):
        pasted_problem = pasted_problem or f"new.name: {extra[:80]!r} is not a field name"
    try:
        text, compiled, problems = await asyncio.to_thread(desk.draft, base, changes)
    except PayBridgeError as exc:
        text, compiled, problems = "", None, [exc.message]
    checks: list[Any] | None = None
    if compiled is not None and not schema_problem:
        checks = await desk.check(compiled)
    return {
        "base": base, "fields": fields, "samples": samples, "sample": sample,
        "sources": source_fields(sample.source), "schema_problem": schema_problem,
        "sample_problem": pasted_problem or sample_problem, "changes": changes,
        "compiled": compiled, "problems": problems, "checks": checks, "text": text,
        "result": desk.preview(compiled, sample) if compiled is not None else None, "form": form,
    }  # fmt: skip


@router.post("/mapping/{name}/preview", response_class=HTMLResponse)
async def preview(request: Request, sent: ViewerPost, name: str) -> Response:
    """The draft's preview (htmx swaps it in as you edit; without htmx, the whole page)."""
    who, form = sent
    draft = await _draft(request, name, form)
    partial = request.headers.get("hx-request") == "true"
    return page(request, "_mapping_preview.html" if partial else "mapping_designer.html",
                visitor=who, nav="mapping", functions=ONE_ARGUMENT, reference=REFERENCE,
                can_suggest=_can_suggest(request), **draft)  # fmt: skip


@router.post("/mapping/{name}/suggest", response_class=HTMLResponse)
async def suggest(request: Request, sent: ViewerPost, name: str) -> Response:
    """Likely sources, on the chosen sample, of the target's writable fields not mapped yet:
    insight's suggestions (``insight.enabled``), shown beside the draft; nothing is assigned
    until a person picks one."""
    who, form = sent
    run = getattr(request.app.state, "mapping_suggest", None)
    found: dict[str, list[dict[str, Any]]] = {}
    problem = "" if run is not None else "Suggestions need insight (insight.enabled: true)."
    if run is not None:
        draft = await _draft(request, name, form)
        open_fields = [
            t.name for t in draft["fields"]
            if not t.mapped and not draft["changes"].get(t.name)
            and t.schema is not None and not t.schema.read_only
        ]  # fmt: skip
        try:
            found = await run(name, draft["sample"].source, open_fields, 3) if open_fields else {}
        except PayBridgeError as exc:
            problem = exc.message
    rows = [(field, picks) for field, picks in sorted(found.items()) if picks]
    return page(request, "_mapping_suggestions.html", visitor=who, rows=rows, problem=problem)


@router.post("/mapping/{name}/save")
async def save(request: Request, sent: OperatorPost, name: str) -> Response:
    who, form = sent
    draft = await _draft(request, name, form)
    if not draft["changes"] or draft["compiled"] is None:
        why = "nothing changed" if draft["compiled"] is not None else "the draft does not compile"
        return page(request, "mapping_designer.html", 422, visitor=who, nav="mapping",
                    functions=ONE_ARGUMENT, reference=REFERENCE, save_problem=why, **draft)  # fmt: skip
    desk = desk_of(request)
    try:
        saved, _ = await asyncio.to_thread(desk.save, draft["base"], draft["changes"], who.actor,
                                           who.client)  # fmt: skip
    except PayBridgeError as exc:
        return page(request, "mapping_designer.html", 422, visitor=who, nav="mapping",
                    functions=ONE_ARGUMENT, reference=REFERENCE, save_problem=exc.message,
                    **draft)  # fmt: skip
    return RedirectResponse(f"/mapping/versions/{saved.id}?done=saved", status_code=303,
                            headers={"Cache-Control": "no-store"})  # fmt: skip


@router.get("/mapping/versions/{version_id}", response_class=HTMLResponse)
async def version(
    request: Request, who: Viewer, version_id: int, n: str = "", done: str = "", problem: str = ""
) -> Response:  # fmt: skip
    desk = desk_of(request)
    saved = await asyncio.to_thread(desk.versions.get, version_id)
    if saved is None:
        raise ConsoleRefusal(404, f"no saved version {version_id}")
    compiled, _ = compile_text(saved.text, saved.file)
    current = await asyncio.to_thread(_template, desk, saved.name)
    diff = text_diff(
        desk.text_of(current), saved.text, current.ref, f"{saved.name}@{saved.version}"
    )
    count = max(1, min(int(n), DRY_RUN_MAX)) if n.isdigit() else 0
    rows = await desk.dry_run(compiled, count) if compiled is not None and count else None
    return page(request, "mapping_version.html", visitor=who, nav="mapping", saved=saved,
                current=current, diff=diff, rows=rows, count=count or DRY_RUN_DEFAULT,
                done=done, problem=problem[:300], compiled=compiled)  # fmt: skip


@router.post("/mapping/versions/{version_id}/promote")
async def promote(request: Request, sent: AdminPost, version_id: int) -> Response:
    who, _ = sent
    desk = desk_of(request)
    try:
        saved = await desk.promote(version_id, who.actor, who.client)
    except PayBridgeError as exc:
        query = urlencode({"problem": exc.message})
        return RedirectResponse(f"/mapping/versions/{version_id}?{query}", status_code=303,
                                headers={"Cache-Control": "no-store"})  # fmt: skip
    return RedirectResponse(f"/mapping/versions/{saved.id}?done=promoted", status_code=303,
                            headers={"Cache-Control": "no-store"})  # fmt: skip
