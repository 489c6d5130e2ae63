"""Functions kept in a crew file (AutoGen FunctionTools): run only when trusted, as custom tools.

Nothing here runs a function's code unless its entry says `trusted: true`. Validation reads
the source with `ast` only. A run compiles a trusted function when it starts, into a fresh
module of its own whose imports are made from the entry's structured `global_imports` (never
from text); the tool is tagged `custom` and `function`, so the policy judges each call (the
shipped policy asks a reviewer), and it runs off the run's loop within the tool time limit
like any other tool. An `async def` runs on an event loop of its own, in the tool's thread.
Its own attributes (`tags`, `timeout`) are ignored: only the crew file's `tool_tags` add tags.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterable
from typing import Any, get_type_hints

from workbench.errors import UserInputError
from workbench.tools.base import Tool

PREFIX = "function:"
#: Every function tool has it (besides `custom`), so a policy can tell them apart.
FUNCTION_TAG = "function"
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", re.ASCII)
_NAME = re.compile(r"^[A-Za-z_]\w*$", re.ASCII)
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
               dict: "object"}


def untrusted(name: str) -> str:
    """Why an untrusted function does not run, and how to let it."""
    return (f"function {name!r} is not trusted, so it does not run: read its source under "
            f"functions.{name} in the crew file and set trusted: true there to let agents use "
            "it (as a custom tool: the policy may ask a reviewer for each call)")


def notes(spec: Any) -> list[str]:
    """One line per untrusted function an agent lists (said when a run starts)."""
    out = []
    for name, fn in spec.functions.items():
        users = [a.name for a in spec.agents if f"{PREFIX}{name}" in a.tools]
        if users and not fn.trusted:
            out.append(f"{untrusted(name)}; {', '.join(users)} run without it")
    return out


def _entry(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function the source defines: the one named like its entry, else the first."""
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return next((d for d in defs if d.name == name), defs[0] if defs else None)


def source_problem(name: str, spec: Any) -> str | None:
    """What is wrong with a function's entry, found without running it (ast only)."""
    try:
        tree = ast.parse(spec.source_code, f"functions.{name}")
    except SyntaxError as exc:
        return f"functions.{name}.source_code: line {exc.lineno}: not valid Python: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"functions.{name}.source_code: cannot be read as Python: {type(exc).__name__}"
    if _entry(tree, name) is None:
        return f"functions.{name}.source_code: defines no function"
    for item in spec.global_imports:
        problem = _import_problem(item)
        if problem:
            return f"functions.{name}.global_imports: {problem}"
    return None


def _import_problem(item: Any) -> str | None:
    if isinstance(item, str):
        return None if _MODULE.match(item) else f"{item!r} is not a module name"
    if not isinstance(item, dict) or not isinstance(item.get("module"), str) \
            or not _MODULE.match(item["module"]):
        return f"{item!r}: write a module name, or {{module: NAME, imports: [...]}}"
    for name in item.get("imports") or []:
        alias = name.get("alias") if isinstance(name, dict) else None
        name = name.get("name") if isinstance(name, dict) else name
        if not isinstance(name, str) or not _NAME.match(name) or (
                alias is not None and (not isinstance(alias, str) or not _NAME.match(alias))):
            return f"{item['module']}: {name!r} is not a name to import"
    return None


def _do_imports(imports: Iterable[Any], namespace: dict[str, Any]) -> None:
    """`import m` / `from m import a as b`, made with importlib from the structured list."""
    for item in imports:
        if isinstance(item, str):
            top = item.split(".")[0]
            importlib.import_module(item)
            namespace[top] = importlib.import_module(top)
            continue
        module = importlib.import_module(item["module"])
        for name in item.get("imports") or []:
            alias = name.get("alias") if isinstance(name, dict) else None
            name = name.get("name") if isinstance(name, dict) else name
            namespace[alias or name] = getattr(module, name)


def source_parameters(name: str, spec: Any) -> dict[str, Any]:
    """The JSON schema of a function's parameters, read from its source with ast (not run):
    for an export, where the function itself must not be loaded."""
    props: dict[str, Any] = {}
    required: list[str] = []
    try:
        entry = _entry(ast.parse(spec.source_code), name)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        entry = None
    if entry is not None:
        args = entry.args
        plain = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(plain) - len(args.defaults)) + list(args.defaults)
        pairs = [*zip(plain, defaults, strict=True),
                 *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
        for arg, default in pairs:
            hint = ast.unparse(arg.annotation) if arg.annotation is not None else "str"
            base = re.split(r"[\[|]", hint.removeprefix("Optional["), maxsplit=1)[0].strip()
            kind = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                    "list": "array", "List": "array", "dict": "object",
                    "Dict": "object"}.get(base, "string")
            props[arg.arg] = {"type": kind}
            if default is None:
                required.append(arg.arg)
    return {"type": "object", "properties": props, "required": required}


def compile_function(name: str, spec: Any, where: str = "the crew file") -> Callable[..., Any]:
    """The trusted function `name`, compiled now into a fresh module (runs its imports and
    its top-level code); any failure is a UserInputError naming the function."""
    if not spec.trusted:
        raise UserInputError(untrusted(name))
    problem = source_problem(name, spec)
    if problem:
        raise UserInputError(problem)
    tree = ast.parse(spec.source_code)
    entry = _entry(tree, name)
    assert entry is not None  # source_problem said so
    module = types.ModuleType(f"workbench_function_{name}")
    module.__file__ = f"<{where}: functions.{name}>"
    try:
        _do_imports(spec.global_imports, module.__dict__)
        exec(compile(tree, module.__file__, "exec"), module.__dict__)  # trusted by the user
    except Exception as exc:  # the user's code: whatever it raises, said in one line
        raise UserInputError(f"function {name!r} could not be loaded: "
                             f"{type(exc).__name__}: {exc}") from None
    fn = module.__dict__.get(entry.name)
    if not callable(fn):
        raise UserInputError(f"function {name!r}: {entry.name} is not a function once loaded")
    return fn


def _parameters(fn: Callable[..., Any]) -> dict[str, Any]:
    sig = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: the parameter takes text
        hints = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(pname, str)
        args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
        if args and getattr(hint, "__origin__", None) is not list:  # Optional[X]: X
            hint = args[0]
        kind = _JSON_TYPES.get(getattr(hint, "__origin__", None) or hint, "string")
        props[pname] = {"type": kind}
        if param.default is param.empty:
            required.append(pname)
    return {"type": "object", "properties": props, "required": required}


def function_tool(name: str, spec: Any, fn: Callable[..., Any],
                  extra_tags: Iterable[str] = ()) -> Tool:
    """The tool agents are offered for the trusted function `name` (compiled as `fn`)."""
    call = fn
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        def call(**kwargs: Any) -> Any:  # in the tool's own thread, on a loop of its own
            return asyncio.run(fn(**kwargs))
    description = spec.description or (inspect.getdoc(fn) or "").split("\n\n")[0] or \
        f"The crew's function {name}"

    parameters = _parameters(fn)
    # JSON has one kind of number: a float parameter gets 2 as 2.0, as AutoGen's own
    # FunctionTool validates it
    floats = {k for k, v in parameters["properties"].items() if v["type"] == "number"}

    def run(**kwargs: Any) -> Any:
        return call(**{k: float(v) if k in floats and type(v) is int else v
                       for k, v in kwargs.items()})

    run.__name__ = name
    return Tool(name=name, description=description, parameters=parameters, fn=run,
                tags=frozenset(extra_tags) | {"custom", FUNCTION_TAG})
