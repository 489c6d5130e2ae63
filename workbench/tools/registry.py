"""The tool registry: built-in tools by name, custom tools by import path (`module:function`)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any, get_type_hints

from workbench.errors import UserInputError
from workbench.tools.base import Tool
from workbench.tools.builtin import BUILTINS

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
               dict: "object"}


#: Every custom tool has it, so a policy can tell user code from the built-in tools.
CUSTOM_TAG = "custom"
#: How agents list a function kept in the crew file (tools/functions.py).
FUNCTION = "function:"


def tool_from_function(ref: str, fn: Any, extra_tags: Iterable[str] = ()) -> Tool:
    """A Tool from a plain function: its signature is the schema, its docstring the description.

    Tags: `custom` and `extra_tags` (a crew's `tool_tags` for it). A `tags` attribute on
    the function is ignored: the code being judged must not label itself (`trusted`) past
    the rules that judge it; only the crew file vouches for it.
    """
    sig = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:
        hints = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        props[pname] = {"type": _JSON_TYPES.get(hints.get(pname, str), "string")}
        if param.default is param.empty:
            required.append(pname)
    name = getattr(fn, "tool_name", None) or fn.__name__
    return Tool(
        name=name,
        description=(inspect.getdoc(fn) or f"Custom tool {ref}").split("\n\n")[0],
        parameters={"type": "object", "properties": props, "required": required},
        fn=fn,
        tags=frozenset(extra_tags) | {CUSTOM_TAG},
    )


class ToolRegistry:
    """Looks tools up by name; `module:function` names are imported on first use.

    `tags` adds tags to custom tools, by the name they are listed under (a crew's
    `tool_tags`); a built-in tool's tags are its own and cannot be changed.
    """

    def __init__(self, tools: tuple[Tool, ...] = BUILTINS,
                 tags: Mapping[str, Iterable[str]] | None = None,
                 functions: Mapping[str, Any] | None = None) -> None:
        self._tools = {t.name: t for t in tools}
        self._extra_tags = dict(tags or {})
        #: The crew's `functions:` (tools/functions.py): offered only when trusted.
        self._functions = dict(functions or {})
        #: `mcp:server` refs: the names of all that server's tools.
        self._groups: dict[str, list[str]] = {}

    def add(self, tool: Tool, *aliases: str) -> None:
        """Offer a tool that is neither built in nor custom (an MCP server's), under its
        name and `aliases` (`mcp:server/tool`); a name that is taken is an error."""
        for name in (tool.name, *aliases):
            if self._tools.get(name, tool) is not tool:
                raise UserInputError(f"tool name {name!r} is taken by another tool")
            self._tools[name] = tool

    def add_group(self, ref: str, names: Iterable[str]) -> None:
        """`ref` (`mcp:server`) stands for the tools `names`, each already added."""
        self._groups[ref] = list(names)

    def resolve(self, ref: str) -> list[Tool]:
        """The tools an agent's `tools:` entry stands for: one, or a whole MCP server's."""
        if ref in self._groups:
            return [self._tools[n] for n in self._groups[ref]]
        if ref.startswith(FUNCTION) and not getattr(
                self._functions.get(ref[len(FUNCTION):]), "trusted", True):
            return []  # an untrusted function is not offered (the run says so at its start)
        return [self.get(ref)]

    def names(self) -> list[str]:
        return sorted(self._tools)

    def has(self, name: str) -> bool:
        if name in self._tools:
            return True
        if ":" in name:
            try:
                self.get(name)
            except UserInputError:
                return False
            return True
        return False

    def get(self, name: str) -> Tool:
        if name in self._tools:
            return self._tools[name]
        if name.startswith(FUNCTION) or name in self._functions:
            return self._function(name.removeprefix(FUNCTION))
        if ":" not in name:
            raise UserInputError(
                f"unknown tool {name!r}; built-in tools are {', '.join(self.names())}, "
                "or name a custom one as module:function"
            )
        if name.startswith("mcp:"):  # an MCP server's, never a Python module's
            raise UserInputError(f"MCP tool {name!r} is not available: its server is not "
                                 "running in this run")
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            fn = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise UserInputError(f"custom tool {name!r} cannot be imported: {exc}") from exc
        if not callable(fn):
            raise UserInputError(f"custom tool {name!r} is not a function")
        tool = tool_from_function(name, fn, self._extra_tags.get(name, ()))
        known = self._tools.get(tool.name)
        if known is not None and known.fn is not fn:
            raise UserInputError(
                f"custom tool {name!r} is called {tool.name!r}, like another tool; give the "
                "function another name or a tool_name attribute"
            )
        # engines offer it, and models call it, by its own name
        self._tools[name] = self._tools[tool.name] = tool
        return tool


    def _function(self, key: str) -> Tool:
        """The crew's function `key` as a tool, compiled on first use if it is trusted."""
        from workbench.tools.functions import compile_function, function_tool, untrusted

        spec = self._functions.get(key)
        if spec is None:
            raise UserInputError(f"no function {key!r} in the crew's functions:")
        if not spec.trusted:
            raise UserInputError(untrusted(key))
        fn = spec.compiled() or compile_function(key, spec)
        tool = function_tool(key, spec, fn, self._extra_tags.get(f"{FUNCTION}{key}", ()))
        self._tools[key] = self._tools[f"{FUNCTION}{key}"] = tool
        return tool


def default_registry() -> ToolRegistry:
    return ToolRegistry()
