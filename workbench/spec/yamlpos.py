"""YAML loading that remembers the line of every value, so errors can say file:line."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class LocatedYAMLError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int], loader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise LocatedYAMLError(
                    "a mapping key must be a plain value", key_node.start_mark.line + 1
                )
            if key in out:
                raise LocatedYAMLError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            child = (*path, key)
            out[key] = _construct(value_node, child, lines, loader)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(n, (*path, i), lines, loader) for i, n in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text; returns the data and a map from each value's path to its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path_, int] = {}
        return _construct(node, (), lines, loader), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise LocatedYAMLError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise LocatedYAMLError(f"invalid YAML: {exc}", None) from None
    finally:
        loader.dispose()


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
