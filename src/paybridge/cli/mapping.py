"""`paybridge mapping list|check|preview|dry-run`: see, check and try templates without code."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from paybridge.app.settings import load_settings
from paybridge.cli.common import ConfigOption, err, friendly, out, store_of
from paybridge.errors import ConfigError, DataError

mapping_app = typer.Typer(
    help="Mapping templates: list, check, preview, dry-run.", no_args_is_help=True
)


def _templates(config: Path | None) -> Any:
    from paybridge.app.clients import templates_for
    from paybridge.clock import SystemClock
    from paybridge.console.designer import MappingVersions

    settings = load_settings(config)
    if config is None and "PAYBRIDGE__STORE__URL" not in os.environ:
        return templates_for(settings)  # no deployment named: the shipped and folder templates
    try:
        versions = MappingVersions(store_of(settings).engine, SystemClock())
        return templates_for(settings, versions)
    except (ConfigError, SQLAlchemyError) as exc:
        err.print(f"versions promoted in the console are left out: the store cannot be read "
                  f"({getattr(exc, 'message', exc)})", markup=False)  # fmt: skip
        return templates_for(settings)


def _read_json(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(
            f"{option}: cannot read {path}: {exc.strerror}", fields={option: str(path)}
        ) from exc
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{option}: {path} is not JSON ({exc.msg}, line {exc.lineno})",
            fields={option: str(path)},
        ) from exc


def _context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise DataError(f"--context: write key=value, not {pair!r}", fields={"context": pair})
        context[key] = value
    return context


@mapping_app.command("list")
@friendly
def list_templates(config: ConfigOption = None) -> None:
    """Every template and its versions: which one maps (in use), and where each comes from."""
    from paybridge.mapping import origin

    templates = _templates(config)
    for template in templates:
        used = "in use" if templates.in_use(template) else "older"
        out.print(
            f"{template.ref:45} {template.source} -> {template.target}  "
            f"[{used}; {origin(template)}]",
            markup=False,
        )


@mapping_app.command("check")
@friendly
def check(
    config: ConfigOption = None,
    metadata: Annotated[
        Path | None, typer.Option(help="A $metadata document; default: the configured D365.")
    ] = None,
) -> None:
    """Check every template against D365's $metadata: fields, types, read-only, required, enums."""
    from paybridge.app.clients import fetch_metadata
    from paybridge.app.schema import metadata_schemas
    from paybridge.mapping import check_templates

    templates = _templates(config)
    if metadata is not None:
        try:
            document: bytes | str = metadata.read_bytes()
        except OSError as exc:
            raise DataError(
                f"--metadata: cannot read {metadata}", fields={"metadata": str(metadata)}
            ) from exc
    else:
        document = asyncio.run(fetch_metadata(load_settings(config)))
    problems = check_templates(list(templates), metadata_schemas(document))
    for problem in problems:
        out.print(str(problem))
    d365 = [t for t in templates if str(t.target).startswith("d365.")]
    if problems:
        err.print(f"{len(problems)} problem(s) in {len(d365)} D365 template(s)")
        raise typer.Exit(1)
    out.print(f"{len(d365)} D365 template(s) agree with the metadata")


@mapping_app.command("preview")
@friendly
def preview_template(
    template: Annotated[str, typer.Argument(help="Template name, or name@version.")],
    input_: Annotated[Path, typer.Option("--input", "-i", help="Sample source record (JSON).")],
    context: Annotated[
        list[str] | None, typer.Option(help="Context value key=value; repeatable.")
    ] = None,
    explain: Annotated[bool, typer.Option(help="Show each field's expression and value.")] = False,
    config: ConfigOption = None,
) -> None:
    """Map a sample and print the record and the per-field errors."""
    from paybridge.mapping import preview

    chosen = _pick(_templates(config), template)
    out.print(
        preview(
            chosen, _read_json(input_, "input"), context=_context(context or []), explain=explain
        ),
        markup=False,
    )


@mapping_app.command("dry-run")
@friendly
def dry_run(
    transaction_id: Annotated[str, typer.Argument(help="PayTrace transaction id already posted.")],
    template: Annotated[str, typer.Option(help="The newer template, name@version.")],
    config: ConfigOption = None,
) -> None:
    """Re-map a ledgered event with a newer template version and print what would differ."""
    from paybridge.keys import LINE_STEP
    from paybridge.mapping import dry_run_diff, format_diff
    from paybridge.o2c.posting import replay_context

    settings = load_settings(config)
    templates = _templates(config)
    store = store_of(settings)
    entries = [
        e for e in store.ledger.entries(f"paytrace:{transaction_id}:") if e.step == LINE_STEP
    ]
    if not entries or not entries[-1].template_version:
        raise DataError(
            f"transaction_id: no mapped payment line for {transaction_id}",
            fields={"transaction_id": transaction_id},
        )
    entry = entries[-1]
    intent = store.intents.get(entry.event_key, LINE_STEP)
    payload = store.queue.payload(entry.event_key)
    if intent is None or payload is None:
        raise DataError(
            f"transaction_id: the event of {transaction_id} is no longer kept",
            fields={"transaction_id": transaction_id},
        )
    old = templates.by_ref(entry.template_version)
    new = _pick(templates, template)
    source, ctx = replay_context(payload, intent.detail, settings.dynamics)
    out.print(format_diff(old, new, dry_run_diff(old, new, source, context=ctx)), markup=False)


def _pick(templates: Any, ref: str) -> Any:
    try:
        return templates.by_ref(ref) if "@" in ref else templates.get(ref)
    except KeyError as exc:
        raise ConfigError(f"template: {exc.args[0]}", operation="mapping") from exc


@mapping_app.command("suggest")
@friendly
def suggest(
    template: Annotated[str, typer.Argument(help="A template writing a D365 entity.")],
    sample: Annotated[Path, typer.Option(help="A record of the template's source (JSON).")],
    field: Annotated[
        list[str] | None, typer.Option(help="Only this target field; repeatable.")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=10)] = 3,
    metadata: Annotated[
        Path | None, typer.Option(help="A $metadata document; default: the configured D365.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """For each field of the D365 entity a template writes, the source fields of a sample record
    that most likely feed it, with a confidence (needs the insight extra; runs offline)."""
    from paybridge.app.clients import fetch_metadata
    from paybridge.app.schema import metadata_schemas

    try:
        from paybridge.app.insight import suggest_mappings
        from paybridge.insight.suggest import Suggester
    except ImportError as exc:
        raise ConfigError(
            f"mapping suggest needs pip install 'paybridge[insight]' ({exc})"
        ) from exc
    settings = load_settings(config)
    record = _read_json(sample, "--sample")
    if not isinstance(record, dict):
        raise DataError("--sample: a JSON object is needed", fields={"sample": str(sample)})
    if metadata is not None:
        try:
            document: bytes | str = metadata.read_bytes()
        except OSError as exc:
            raise DataError(
                f"--metadata: cannot read {metadata}", fields={"metadata": str(metadata)}
            ) from exc
    else:
        document = asyncio.run(fetch_metadata(settings))
    found = suggest_mappings(
        Suggester(min_confidence=settings.insight.suggest_min_confidence), _templates(config),
        metadata_schemas(document), template, record, field or [], top,
    )  # fmt: skip
    if as_json:
        out.print_json(json.dumps(found))
        return
    for name, items in found.items():
        said = ", ".join(f"{s['source']} ({s['confidence']:.2f})" for s in items) or "-"
        out.print(f"{name:40} <- {said}", markup=False)
