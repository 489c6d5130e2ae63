"""YAML loading that remembers the line of every value and refuses hostile input, file:line.

Every YAML file the workbench reads (crews, policies, `models.yaml`) goes through here.
Limits are enforced while the document is composed into nodes, before any Python object
is built: alias expansion ("billion laughs") is bounded by the number of aliases and by the
size of the document once aliases are expanded, and nesting is bounded in depth, so a
hostile file is refused in milliseconds and never reaches Python's recursion limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

#: Deepest nesting of lists and mappings (counting what aliases expand to).
MAX_DEPTH = 100
#: Most aliases (`*name`) a document may use.
MAX_ALIASES = 1_000
#: Most values a document may hold once every alias is expanded.
MAX_NODES = 100_000
#: Most characters of text a document may hold once every alias is expanded.
MAX_CHARS = 20_000_000


class LocatedYAMLError(Exception):
    """A YAML problem and the line it is on (None when unknown)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class NestedTooDeep(LocatedYAMLError):
    """The document nests lists and mappings deeper than its limit allows."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with budgets checked as each node is composed.

    The composer shares one node for an anchor and all its aliases, so composing stays
    linear; the cost of a bomb appears only when the tree is walked. Each node's expanded
    size and height are therefore tracked here and checked at every alias.
    """

    def __init__(self, text: str, max_depth: int = MAX_DEPTH) -> None:
        super().__init__(text)
        self._max_depth = max_depth
        self._depth = 0  # collections open around the node being composed
        self._aliases = 0
        self._nodes = 0  # values in the document with aliases expanded
        self._chars = 0  # characters of scalar text in it, aliases expanded
        self._size: dict[int, int] = {}  # id(node) -> expanded size; set once complete
        self._text: dict[int, int] = {}  # id(node) -> expanded characters of text
        self._height: dict[int, int] = {}  # id(node) -> collections nested in it, itself too

    def _count(self, n: int, chars: int, line: int) -> None:
        self._nodes += n
        self._chars += chars
        if self._nodes > MAX_NODES:
            raise LocatedYAMLError(
                f"too large: more than {MAX_NODES:,} values once aliases are expanded "
                "(an alias bomb?)", line)
        if self._chars > MAX_CHARS:
            raise LocatedYAMLError(
                f"too large: more than {MAX_CHARS:,} characters once aliases are expanded "
                "(an alias bomb?)", line)

    def _too_deep(self, line: int) -> LocatedYAMLError:
        return NestedTooDeep(f"nested more than {self._max_depth} levels deep", line)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner keeps a pending key per open `[` / `{` and rescans them all at each
        # token: thousands of open brackets cost seconds before the composer sees any.
        if self.flow_level >= self._max_depth:
            raise self._too_deep(self.get_mark().line + 1)
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is left to PyYAML's own error
                if id(target) not in self._size:
                    raise LocatedYAMLError(
                        f"alias *{event.anchor} refers to a value that contains it", line)
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise LocatedYAMLError(
                        f"too many aliases: more than {MAX_ALIASES:,} (an alias bomb?)", line)
                if self._depth + self._height[id(target)] > self._max_depth:
                    raise self._too_deep(line)
                self._count(self._size[id(target)], self._text[id(target)], line)
            return super().compose_node(parent, index)
        collection = isinstance(event, yaml.CollectionStartEvent)
        if collection:
            self._depth += 1
            if self._depth > self._max_depth:
                raise self._too_deep(line)
        self._count(1, len(event.value) if isinstance(event, yaml.ScalarEvent) else 0, line)
        try:
            node = super().compose_node(parent, index)
        finally:
            if collection:
                self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self._size[id(node)] = 1 + sum(self._size.get(id(c), 1) for c in children)
        self._text[id(node)] = (len(node.value) if isinstance(node, yaml.ScalarNode)
                                else sum(self._text.get(id(c), 0) for c in children))
        self._height[id(node)] = int(collection) + max(
            (self._height.get(id(c), 0) for c in children), default=0)
        return node


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


def _reader_error(exc: yaml.reader.ReaderError, text: str) -> LocatedYAMLError:
    line = text.count("\n", 0, max(exc.position, 0)) + 1
    char = exc.character
    code = ord(char) if isinstance(char, str) else char
    what = f"control character U+{code:04X}" if isinstance(code, int) else f"character {char!r}"
    return LocatedYAMLError(
        f"{what} is not allowed in YAML; remove it (in a double-quoted string it may be "
        "written as an escape, like \\t)", line)


def load_with_lines(text: str, max_depth: int = MAX_DEPTH) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text; returns the data and a map from each value's path to its line.

    Raises LocatedYAMLError for invalid YAML, control characters, too many aliases, too
    large an expansion or a nesting deeper than `max_depth` (NestedTooDeep). A file whose
    values end up deeper in another document (an import) passes a lower `max_depth`.
    """
    try:
        loader = _BoundedLoader(text, max_depth)  # the reader checks every character here
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path_, int] = {}
        return _construct(node, (), lines, loader), lines
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise LocatedYAMLError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise LocatedYAMLError(f"invalid YAML: {exc}", None) from None
    except RecursionError:  # not expected within MAX_DEPTH; refused, never a crash
        raise NestedTooDeep(f"nested too deeply (at most {max_depth} levels)", None) from None
    finally:
        loader.dispose()


#: A JSON string literal (JSON strings hold no raw newline, so emptying them keeps lines).
_JSON_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def check_json_depth(text: str) -> None:
    """Refuse JSON nested more than MAX_DEPTH deep, with the line, before it is parsed:
    the JSON parser and everything that walks its result recurse once per level."""
    bare = _JSON_STRING.sub('""', text)
    depth = 0
    for m in _JSON_BRACKET.finditer(bare):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise LocatedYAMLError(f"nested more than {MAX_DEPTH} levels deep",
                                   bare.count("\n", 0, m.start()) + 1)


def decode_yaml(raw: bytes) -> str:
    """UTF-8 text of a YAML file; undecodable bytes raise LocatedYAMLError with their line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LocatedYAMLError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column} cannot be "
            "decoded; save the file as UTF-8", line) from None


def read_yaml_text(path: str | Path) -> str:
    """A YAML file's text; OSError if it cannot be read, LocatedYAMLError if not UTF-8."""
    return decode_yaml(Path(path).read_bytes())


def load_file(path: str | Path) -> Any:
    """A YAML file's data, for callers that need no lines; every problem is a SpecError."""
    from workbench.errors import SpecError

    try:
        return load_with_lines(read_yaml_text(path))[0]
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), str(path), exc.line) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", str(path)) from None


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
