"""Loading templates: one file, a whole folder all-or-nothing, or a folder over the shipped set,
into a versioned ``TemplateSet``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from paybridge.mapping.errors import TemplateError, TemplateProblem
from paybridge.mapping.functions import FunctionRegistry, default_registry
from paybridge.mapping.spec import read_spec
from paybridge.mapping.template import CompiledTemplate, compile_spec
from paybridge.mapping.yamlspec import read_yaml

SHIPPED_DIR = Path(__file__).parent / "templates"


def compile_text(
    text: str, file: str = "<template>", registry: FunctionRegistry | None = None
) -> tuple[CompiledTemplate | None, list[TemplateProblem]]:
    """Compile YAML text; returns the template or every problem (file:line:field), never both."""
    doc, problems = read_yaml(text, file)
    if doc is None:
        return None, problems
    spec = read_spec(doc, file)
    spec.problems[:0] = problems
    return compile_spec(spec, registry or default_registry(), doc.value)


def load_template(path: str | Path, registry: FunctionRegistry | None = None) -> CompiledTemplate:
    """Load one template file or raise ``TemplateError`` listing all its problems."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError([TemplateProblem(str(file), None, "", f"cannot read: {exc}")]) from exc
    template, problems = compile_text(text, str(file), registry)
    if template is None:
        raise TemplateError(problems)
    return template


def load_templates(
    directory: str | Path = SHIPPED_DIR, registry: FunctionRegistry | None = None
) -> TemplateSet:
    """Every ``*.yaml``/``*.yml`` of ``directory``: all load, or ``TemplateError`` lists every problem
    of every file (the engine refuses to start rather than run with half its templates)."""
    folder = Path(directory)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise TemplateError([TemplateProblem(str(folder), None, "", "no template files found")])
    shared = registry or default_registry()
    problems: list[TemplateProblem] = []
    loaded: list[CompiledTemplate] = []
    for file in files:
        try:
            loaded.append(load_template(file, shared))
        except TemplateError as exc:
            problems.extend(exc.problems)
    problems.extend(_duplicates(loaded))
    if problems:
        raise TemplateError(problems)
    return TemplateSet(loaded)


def load_overlay(
    directory: str | Path, registry: FunctionRegistry | None = None, base: str | Path = SHIPPED_DIR
) -> TemplateSet:
    """The shipped templates with ``directory``'s laid over them.

    A template in the folder joins the shipped versions of its name, so the highest version
    of a name is the one the engine maps with, and the older ones stay for ``dry-run`` and the
    ledger's references; the folder's copy of a shipped ``name@version`` replaces it. Names the
    folder does not hold stay shipped. The folder loads all-or-nothing like ``load_templates``.
    """
    shared = registry or default_registry()
    own = load_templates(directory, shared)
    mine = {template.ref for template in own}
    shipped = [t for t in load_templates(base, shared) if t.ref not in mine]
    return TemplateSet([*shipped, *own])


def _duplicates(templates: list[CompiledTemplate]) -> list[TemplateProblem]:
    seen: dict[str, CompiledTemplate] = {}
    problems = []
    for template in templates:
        first = seen.setdefault(template.ref, template)
        if first is not template:
            problems.append(TemplateProblem(
                template.file, None, "version",
                f"{template.ref} is also defined in {first.file}; a change needs a new version",
            ))  # fmt: skip
    return problems


class TemplateSet:
    """Templates by name and version; ``get(name)`` is the newest version."""

    def __init__(self, templates: Iterable[CompiledTemplate]) -> None:
        self._by_name: dict[str, dict[int, CompiledTemplate]] = {}
        for template in templates:
            versions = self._by_name.setdefault(template.name, {})
            if template.version in versions:
                raise ValueError(f"duplicate template {template.ref}")
            versions[template.version] = template

    def get(self, name: str, version: int | None = None) -> CompiledTemplate:
        versions = self._by_name.get(name)
        if not versions:
            raise KeyError(f"no template named {name!r}")
        chosen = max(versions) if version is None else version
        if chosen not in versions:
            raise KeyError(f"template {name!r} has no version {version} (has {sorted(versions)})")
        return versions[chosen]

    def by_ref(self, ref: str) -> CompiledTemplate:
        """The template of a ledger entry's ``name@version``."""
        name, _, version = ref.partition("@")
        if not version.isdigit():
            raise KeyError(f"not a template reference: {ref!r}")
        return self.get(name, int(version))

    def versions(self, name: str) -> list[int]:
        return sorted(self._by_name.get(name, {}))

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def latest(self) -> list[CompiledTemplate]:
        return [self.get(name) for name in self.names()]

    def in_use(self, template: CompiledTemplate) -> bool:
        """Whether ``template`` is the version its name maps with (the highest)."""
        return self.versions(template.name)[-1:] == [template.version]

    def check_pins(self, pins: Mapping[str, str]) -> list[str]:
        """Compare with fingerprints recorded earlier (``name@version`` -> fingerprint): a template
        whose content changed without a new version is reported, since the ledger's history of
        which version mapped what would otherwise lie."""
        changed = []
        for template in self:
            pinned = pins.get(template.ref)
            if pinned is not None and pinned != template.fingerprint:
                changed.append(f"{template.file}: {template.ref} changed since it was recorded "
                               f"(fingerprint {pinned} -> {template.fingerprint}); "
                               f"give the change a new version")  # fmt: skip
        return changed

    def __iter__(self) -> Iterator[CompiledTemplate]:
        for name in self.names():
            for version in self.versions(name):
                yield self._by_name[name][version]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())


def origin(template: CompiledTemplate) -> str:
    """Where a template comes from: ``shipped``, or the file it was loaded from."""
    file = Path(template.file)
    return "shipped" if file.parent.resolve() == SHIPPED_DIR.resolve() else str(file)
