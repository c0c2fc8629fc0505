"""The mapping designer's desk: template versions saved in the store, preview, check, dry run and
promotion. What it needs of D365 and of the flows (``$metadata``, real samples) ``app`` hands in.

A saved version maps nothing until an admin promotes it; every process lays the promoted
versions over the shipped and folder templates (``app.clients.templates_for``) and rebuilds its
engine when the set changes (``app.runner``), so the highest promoted version is what maps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.errors import DataError
from paybridge.mapping import (
    CheckProblem,
    CompiledTemplate,
    EntitySchema,
    FieldDiff,
    MappingResult,
    TemplateSet,
    check_template,
    compile_text,
    dry_run_diff,
)
from paybridge.mapping.designer import new_version_text, text_diff
from paybridge.security.context import SecurityContext
from paybridge.store.schema_console import mapping_versions as table

CONSOLE_FILE = "console:mapping_versions#"


@dataclass(frozen=True)
class SavedVersion:
    id: int
    name: str
    version: int
    based_on: int | None
    text: str
    fingerprint: str
    saved_by: str
    saved_at: datetime
    promoted_by: str | None
    promoted_at: datetime | None

    @property
    def file(self) -> str:
        """The template's ``file`` when compiled: where the console's versions come from."""
        return f"{CONSOLE_FILE}{self.id}"


class MappingVersions:
    """The ``mapping_versions`` table: saved versions, and which are promoted."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, name: str, version: int, based_on: int, text: str, actor: str) -> SavedVersion:
        row = {
            "name": name, "version": version, "based_on": based_on, "text": text,
            "fingerprint": hashlib.sha256(text.encode()).hexdigest(), "saved_by": actor,
            "saved_at": self.clock.now(),
        }  # fmt: skip
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(
                    insert(table).values(**row).returning(table.c.id)
                ).scalar_one()
        except IntegrityError:
            raise DataError(
                f"{name}@{version} was saved meanwhile; open the designer again",
                fields={"version": str(version)},
            ) from None
        found = self.get(int(new_id))
        assert found is not None
        return found

    def get(self, version_id: int) -> SavedVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == version_id)).mappings().first()
        return SavedVersion(**row) if row else None

    def of(self, name: str) -> list[SavedVersion]:
        query = select(table).where(table.c.name == name).order_by(table.c.version.desc())
        with self.engine.connect() as conn:
            return [SavedVersion(**r) for r in conn.execute(query).mappings()]

    def promoted(self) -> list[SavedVersion]:
        query = select(table).where(table.c.promoted_at.is_not(None)).order_by(table.c.id)
        with self.engine.connect() as conn:
            return [SavedVersion(**r) for r in conn.execute(query).mappings()]

    def generation(self) -> int:
        """How many versions were ever promoted: a change tells every process to reload."""
        query = select(func.count()).select_from(table).where(table.c.promoted_at.is_not(None))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def promote(self, version_id: int, actor: str) -> bool:
        """Mark promoted, once (a second promotion of the same version changes nothing)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(table)
                .where(table.c.id == version_id, table.c.promoted_at.is_(None))
                .values(promoted_by=actor, promoted_at=self.clock.now())
            )
        return done.rowcount == 1


@dataclass(frozen=True)
class Sample:
    """A source record to preview with, and the context its flow maps it with."""

    label: str
    source: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)
    mapped_with: str | None = None  # name@version, for a real payment's


@dataclass(frozen=True)
class DryRunRow:
    label: str
    old: str
    diffs: list[FieldDiff]
    error: str = ""


Schemas = Callable[[], Awaitable[Mapping[str, EntitySchema]]]
Samples = Callable[[CompiledTemplate, int], Awaitable[list[Sample]]]


class MappingDesk:
    """What the designer pages do; every save and promotion is an audit row."""

    def __init__(
        self, versions: MappingVersions, templates: Callable[[], TemplateSet],
        schemas: Schemas, samples: Samples, security: SecurityContext,
    ) -> None:  # fmt: skip
        self.versions = versions
        self.templates = templates
        self.schemas = schemas
        self.samples = samples
        self.security = security

    def text_of(self, template: CompiledTemplate) -> str:
        """The YAML a template was compiled from: its file, or its row of ``mapping_versions``."""
        if template.file.startswith(CONSOLE_FILE):
            saved = self.versions.get(int(template.file.removeprefix(CONSOLE_FILE)))
            if saved is None:
                raise DataError(f"{template.ref}: its saved version is gone", fields={})
            return saved.text
        with open(template.file, encoding="utf-8") as handle:
            return handle.read()

    def draft(
        self, base: CompiledTemplate, assignments: Mapping[str, str | None]
    ) -> tuple[str, CompiledTemplate | None, list[str]]:
        """The base's YAML with ``assignments``, compiled as the next version: the text, the
        template (None when it does not compile) and the problems (file:line: message)."""
        version = self.next_version(base.name)
        text = new_version_text(self.text_of(base), version, assignments,
                                f"from {base.ref} in the console")  # fmt: skip
        compiled, problems = compile_text(text, f"{base.name}@{version} (draft)")
        return text, compiled, [str(p) for p in problems]

    def next_version(self, name: str) -> int:
        known = [*self.templates().versions(name), *(v.version for v in self.versions.of(name))]
        return max(known, default=0) + 1

    @staticmethod
    def preview(template: CompiledTemplate, sample: Sample) -> MappingResult:
        return template.apply(sample.source, context=sample.context, explain=True)

    async def check(self, template: CompiledTemplate) -> list[CheckProblem]:
        return check_template(template, await self.schemas())

    async def dry_run(self, new: CompiledTemplate, count: int) -> list[DryRunRow]:
        """``new`` over the last ``count`` real sources, against the version that mapped each."""
        rows = []
        templates = self.templates()
        for sample in await self.samples(new, count):
            try:
                old = (
                    templates.by_ref(sample.mapped_with or "")
                    if sample.mapped_with
                    else templates.get(new.name)
                )
            except KeyError:
                old = templates.get(new.name)
            diffs = dry_run_diff(old, new, sample.source, context=sample.context)
            rows.append(DryRunRow(sample.label, old.ref, diffs))
        return rows

    def save(
        self, base: CompiledTemplate, assignments: Mapping[str, str | None], actor: str,
        client: str,
    ) -> tuple[SavedVersion, str]:  # fmt: skip
        """Save the draft as a new version (not in use until promoted); returns it and its diff."""
        text, compiled, problems = self.draft(base, assignments)
        if compiled is None:
            raise DataError("the template does not compile: " + "; ".join(problems[:5]),
                            fields={"template": problems[0] if problems else "invalid"})  # fmt: skip
        saved = self.versions.add(base.name, compiled.version, base.version, text, actor)
        diff = text_diff(self.text_of(base), text, base.ref, compiled.ref)
        self.security.audit.record(
            actor=actor, action="mapping.save", target=f"mapping:{compiled.ref}", client=client,
            detail={"based_on": base.ref, "fingerprint": saved.fingerprint, "id": saved.id},
        )  # fmt: skip
        return saved, diff

    async def promote(self, version_id: int, actor: str, client: str) -> SavedVersion:
        """Make a saved version the one that maps, once ``mapping check`` finds nothing against
        D365's live ``$metadata`` (a D365-bound template; no metadata, no promotion)."""
        saved = self.versions.get(version_id)
        if saved is None:
            raise DataError(f"no saved version {version_id}", fields={"version": str(version_id)})
        compiled, problems = compile_text(saved.text, saved.file)
        if compiled is None:
            raise DataError("it does not compile: " + "; ".join(str(p) for p in problems[:3]),
                            fields={"version": str(saved.version)})  # fmt: skip
        checked = await self.check(compiled)
        if checked:
            self.security.audit.record(
                actor=actor, action="mapping.promote", target=f"mapping:{compiled.ref}",
                client=client, outcome="refused",
                detail={"id": saved.id, "problems": [str(c) for c in checked[:10]]},
            )  # fmt: skip
            raise DataError(
                f"mapping check refuses {compiled.ref}: " + "; ".join(
                    f"{c.field}: {c.message}" for c in checked[:3]),
                fields={c.field: c.code for c in checked},
            )  # fmt: skip
        return self._promote(saved, actor, client)

    def _promote(self, saved: SavedVersion, actor: str, client: str) -> SavedVersion:
        version_id = saved.id
        in_use = self.templates().versions(saved.name)[-1:]
        if saved.promoted_at is None and in_use and saved.version <= in_use[0]:
            raise DataError(
                f"{saved.name}@{in_use[0]} is in use; promote a higher version "
                f"(save this one again to make it {saved.name}@{self.next_version(saved.name)})",
                fields={"version": str(saved.version)},
            )
        done = self.versions.promote(version_id, actor)
        self.security.audit.record(
            actor=actor, action="mapping.promote", target=f"mapping:{saved.name}@{saved.version}",
            client=client, outcome="ok" if done else "unchanged",
            detail={"id": saved.id, "fingerprint": saved.fingerprint},
        )  # fmt: skip
        promoted = self.versions.get(version_id)
        assert promoted is not None
        return promoted
