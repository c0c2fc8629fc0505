"""Errors the mapping engine raises: one template problem, many problems at load, a bad value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paybridge.errors import ConfigError


class MappingValueError(ValueError):
    """A template function refused its input; becomes a per-field error, never escapes ``apply``."""


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, located as precisely as the YAML allows."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class TemplateError(ConfigError):
    """A template (or a set of them) cannot load; ``problems`` lists every reason, not just one."""

    def __init__(self, problems: Sequence[TemplateProblem]) -> None:
        self.problems: tuple[TemplateProblem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{count} template problem{'s' if count != 1 else ''}:\n{lines}",
            system="mapping",
            operation="load templates",
        )

    def __str__(self) -> str:
        return self.message
