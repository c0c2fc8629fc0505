"""Reads template YAML into plain values while remembering the line of every key, for error reports."""

from __future__ import annotations

from typing import Any

import yaml

from paybridge.mapping.errors import TemplateProblem

Path = tuple[str | int, ...]


class LocatedDocument:
    """A parsed YAML document plus ``line(path)``: where each key or item was written (1-based)."""

    def __init__(self, value: Any, lines: dict[Path, int]) -> None:
        self.value = value
        self._lines = lines

    def line(self, *path: str | int) -> int | None:
        """The line of ``path``, or of its nearest located parent."""
        for end in range(len(path), -1, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None


def read_yaml(text: str, file: str) -> tuple[LocatedDocument | None, list[TemplateProblem]]:
    """Parse safely (no tags, no objects); YAML syntax errors come back as located problems."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, [TemplateProblem(file, line, "", f"invalid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [TemplateProblem(file, None, "", f"invalid YAML: {exc}")]
    if root is None:
        return None, [TemplateProblem(file, 1, "", "the file is empty")]
    converter = _Converter(file)
    try:
        value = converter.convert(root, ())
    except yaml.YAMLError as exc:
        return None, [TemplateProblem(file, None, "", f"invalid YAML value: {exc}")]
    return LocatedDocument(value, converter.lines), converter.problems


class _Converter:
    def __init__(self, file: str) -> None:
        self._file = file
        self._constructor = yaml.SafeLoader("")
        self.lines: dict[Path, int] = {}
        self.problems: list[TemplateProblem] = []

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self._constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            shown = path[1:] if path[:1] == ("fields",) else path  # field names as elsewhere
            where = ".".join(str(p) for p in (*shown, key))
            if key in result:
                self.problems.append(TemplateProblem(self._file, line, where, "duplicate key"))
                continue
            self.lines[(*path, key)] = line
            result[key] = self.convert(value_node, (*path, key))
        return result
