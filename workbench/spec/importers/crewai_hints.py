"""Hints from a CrewAI project's Python files, read with `ast` only (never imported or run).

`crew.py` (and scripts beside `config/`) say what the YAML does not: the process, the
manager, tools given as Python objects, context lists, agents' extra settings, several crews
built from one pair of files; `main.py` holds the inputs a run is given. Every hint is read
from the syntax tree; a file that is not valid Python is skipped with a warning.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Python files larger than this are not read for hints.
MAX_HINT_BYTES = 1_000_000
#: Deepest syntax tree read for hints: the passes walk it recursively.
MAX_HINT_DEPTH = 200
#: The literal an exported crew.py keeps the workbench's own fields in.
CREW_LITERAL = "WORKBENCH_CREW"
#: Keyword arguments that carry no meaning for the workbench (logging only).
_QUIET = frozenset({"verbose", "config"})


@dataclass
class AgentHint:
    key: str
    tools: list[str] = field(default_factory=list)
    allow_delegation: bool | None = None
    llm: str | None = None
    #: Other keyword arguments, as their source text.
    extras: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass
class TaskHint:
    key: str
    agent: str | None = None
    context: list[str] | None = None
    output_file: str | None = None
    human_input: bool | None = None
    extras: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass
class CrewHint:
    """One `Crew(...)` call: where it is, and what it says."""

    name: str
    where: str
    process: str | None = None
    manager_agent: str | None = None
    #: The manager's model: a string, or the source text of an expression.
    manager_llm: str | None = None
    agents: list[str] | None = None
    tasks: list[str] | None = None
    extras: dict[str, str] = field(default_factory=dict)


@dataclass
class Hints:
    agents: dict[str, AgentHint] = field(default_factory=dict)
    tasks: dict[str, TaskHint] = field(default_factory=dict)
    crews: list[CrewHint] = field(default_factory=list)
    #: @agent / @task method name -> YAML key (CrewAI's tasks.yaml names methods).
    agent_methods: dict[str, str] = field(default_factory=dict)
    task_methods: dict[str, str] = field(default_factory=dict)
    #: Task keys in the order the project defines its @task methods (CrewAI's order).
    task_order: list[str] = field(default_factory=list)
    #: Tasks made in code with their own text, not from tasks.yaml: name -> where.
    code_tasks: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    #: An exported crew's `WORKBENCH_CREW` literal: the fields CrewAI has no place for.
    workbench: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _callee(node: ast.AST) -> str | None:
    """`Agent` for Agent(...), crewai.Agent(...), self.make_agent(...) -> make_agent."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _self_call(node: ast.AST) -> str | None:
    """`m` for self.m() (or self.m)."""
    if isinstance(node, ast.Call) and not node.args:
        node = node.func
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")):
        return node.attr
    return None


def _const(node: ast.AST) -> object:
    return node.value if isinstance(node, ast.Constant) else ...


class _Reader:
    """Reads one project's Python files into `Hints`."""

    def __init__(self, agent_keys: set[str], task_keys: set[str]) -> None:
        self.agent_keys = agent_keys
        self.task_keys = task_keys
        self.hints = Hints()
        #: variable name -> agent key / task key / callee of the call assigned to it
        self.agent_vars: dict[str, str] = {}
        self.task_vars: dict[str, str] = {}
        self.objects: dict[str, str] = {}
        self.consts: dict[str, list[str]] = {}
        self.tool_methods: set[str] = set()
        self.text = ""
        self.file = ""

    # -- helpers ---------------------------------------------------------------------------

    def where(self, node: ast.AST) -> str:
        return f"{self.file}:{getattr(node, 'lineno', 0)}"

    def source(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.text, node) or ast.dump(node)
        return " ".join(segment.split())[:300]

    def key_in(self, node: ast.AST, keys: set[str]) -> str | None:
        """The first known key named by a string in `node` (`config=agents_config['x']`)."""
        return next((s for s in _strings(node) if s in keys), None)

    def agent_ref(self, node: ast.AST) -> str | None:
        method = _self_call(node)
        if method is not None:
            return self.hints.agent_methods.get(method, method if method in self.agent_keys
                                                else None)
        if isinstance(node, ast.Name):
            return self.agent_vars.get(node.id)
        if isinstance(node, ast.Call) and _callee(node) == "Agent":
            return self.key_in(node, self.agent_keys)
        return None

    def task_ref(self, node: ast.AST) -> str | None:
        method = _self_call(node)
        if method is not None:
            return self.hints.task_methods.get(method, method if method in self.task_keys
                                               else None)
        if isinstance(node, ast.Name):
            return self.task_vars.get(node.id)
        return None

    def tool_name(self, node: ast.AST) -> str:
        """What a tool in `tools=[...]` is: its class or function name."""
        if isinstance(node, ast.Call):
            name = _callee(node)
            method = _self_call(node)
            if method is not None and method in self.tool_methods:
                return method
            return name or self.source(node)
        if isinstance(node, ast.Name):
            return self.objects.get(node.id, node.id)
        method = _self_call(node)
        if method is not None:
            return self.objects.get(method, method)
        return self.source(node)

    # -- the passes ------------------------------------------------------------------------

    def read(self, path: Path, shown: str) -> None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            self.hints.warnings.append(f"{shown}: cannot be read ({exc.strerror or exc}); "
                                       "its hints are skipped")
            return
        if len(raw) > MAX_HINT_BYTES:
            self.hints.warnings.append(f"{shown}: larger than {MAX_HINT_BYTES:,} bytes; its "
                                       "hints are skipped")
            return
        text = raw.decode("utf-8", errors="replace")
        try:
            tree = ast.parse(text, filename=shown)
        except SyntaxError as exc:
            self.hints.warnings.append(
                f"{shown}:{exc.lineno or 0}: not valid Python ({exc.msg}); its hints (process, "
                "tools, context, inputs) are skipped")
            return
        except (RecursionError, MemoryError):  # the parser's own limit on nesting
            self.hints.warnings.append(f"{shown}: nested too deeply for Python's parser; its "
                                       "hints (process, tools, context, inputs) are skipped")
            return
        deep = _too_deep(tree)
        if deep is not None:
            self.hints.warnings.append(
                f"{shown}:{deep}: nested more than {MAX_HINT_DEPTH} levels deep; its hints "
                "(process, tools, context, inputs) are skipped")
            return
        self.text, self.file = text, shown
        self.hints.files.append(shown)
        self._definitions(tree)
        self._assignments(tree)
        self._calls(tree)
        self._inputs(tree)

    def _definitions(self, tree: ast.Module) -> None:
        """@agent / @task / @tool methods, module constants and the CrewBase docstring."""
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                decorators = {_callee(d) for d in node.decorator_list}
                if "CrewBase" in decorators and self.hints.description is None:
                    doc = ast.get_docstring(node)
                    if doc and doc.strip():
                        self.hints.description = " ".join(doc.split())
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            decorators = {_callee(d) for d in node.decorator_list}
            if "agent" in decorators:
                key = self.key_in(node, self.agent_keys)
                if key is None and node.name in self.agent_keys:
                    key = node.name
                if key:
                    self.hints.agent_methods[node.name] = key
            if "task" in decorators:
                key = self.key_in(node, self.task_keys)
                if key is None and node.name in self.task_keys:
                    key = node.name
                if key:
                    self.hints.task_methods[node.name] = key
                    if key not in self.hints.task_order:
                        self.hints.task_order.append(key)
                else:
                    self.hints.code_tasks[node.name] = self.where(node)
            if "tool" in decorators:
                self.tool_methods.add(node.name)
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == CREW_LITERAL):
                try:  # a literal only: literal_eval evaluates no code
                    value = ast.literal_eval(node.value)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    value = None
                if isinstance(value, dict):
                    self.hints.workbench = value
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple):
                items = [_const(e) for e in node.value.elts]
                if items and all(isinstance(i, str) for i in items):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            self.consts[target.id] = [str(i) for i in items]

    def _assignments(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
                continue
            callee = _callee(node.value)
            for target in node.targets:
                name = target.id if isinstance(target, ast.Name) else (
                    target.attr if isinstance(target, ast.Attribute) else None)
                if name is None:
                    continue
                if callee == "Agent":
                    key = self.key_in(node.value, self.agent_keys)
                    if key:
                        self.agent_vars[name] = key
                elif callee == "Task":
                    key = self.key_in(node.value, self.task_keys)
                    if key:
                        self.task_vars[name] = key
                elif callee:
                    self.objects[name] = callee

    def _calls(self, tree: ast.Module) -> None:
        for scope, node in _calls_in_scopes(tree):
            callee = _callee(node)
            if callee == "Agent":
                self._agent(node)
            elif callee == "Task":
                self._task(node, scope)
            elif callee == "Crew":
                self._crew(node, scope)

    def _agent(self, call: ast.Call) -> None:
        key = self.key_in(call, self.agent_keys)
        if key is None:
            return
        hint = self.hints.agents.setdefault(key, AgentHint(key, where=self.where(call)))
        for kw in call.keywords:
            if kw.arg is None or kw.arg in _QUIET:
                continue
            if kw.arg == "tools":
                elements = (kw.value.elts if isinstance(kw.value, ast.List | ast.Tuple)
                            else [kw.value])  # e.g. tools=sandbox_tools, a list made elsewhere
                hint.tools += [t for t in map(self.tool_name, elements) if t not in hint.tools]
            elif kw.arg == "allow_delegation" and isinstance(_const(kw.value), bool):
                hint.allow_delegation = bool(_const(kw.value))
            elif kw.arg == "llm" and isinstance(_const(kw.value), str):
                hint.llm = str(_const(kw.value))
            else:
                hint.extras[kw.arg] = self.source(kw.value)

    def _task(self, call: ast.Call, scope: ast.AST | None) -> None:
        key = self.key_in(call, self.task_keys)
        if key is None:
            # a task with its own text in code: not from tasks.yaml
            if any(kw.arg == "description" and not self.key_in(kw.value, self.task_keys)
                   for kw in call.keywords):
                label = getattr(scope, "name", None) or "task"
                self.hints.code_tasks.setdefault(f"{label}@{call.lineno}", self.where(call))
            return
        hint = self.hints.tasks.setdefault(key, TaskHint(key, where=self.where(call)))
        for kw in call.keywords:
            if kw.arg is None or kw.arg in _QUIET or kw.arg in ("description",
                                                              "expected_output"):
                continue
            if kw.arg == "agent":
                hint.agent = self.agent_ref(kw.value) or hint.agent
            elif kw.arg == "context" and isinstance(kw.value, ast.List | ast.Tuple):
                refs = [self.task_ref(e) for e in kw.value.elts]
                hint.context = [r for r in refs if r]
            elif kw.arg == "output_file" and isinstance(_const(kw.value), str):
                hint.output_file = str(_const(kw.value))
            elif kw.arg == "human_input" and isinstance(_const(kw.value), bool):
                hint.human_input = bool(_const(kw.value))
            else:
                hint.extras[kw.arg] = self.source(kw.value)

    def _crew(self, call: ast.Call, scope: ast.AST | None) -> None:
        scope_name = getattr(scope, "name", None) or Path(self.file).stem
        cls = getattr(scope, "_workbench_class", None)
        name = cls if (scope_name == "crew" and cls) else scope_name
        for prefix in ("build_", "create_", "make_", "get_"):
            name = name.removeprefix(prefix)
        name = name.removesuffix("_crew") or name
        hint = CrewHint(name, self.where(call))
        for kw in call.keywords:
            if kw.arg is None or kw.arg in _QUIET:
                continue
            value = kw.value
            if kw.arg == "process":
                text = (value.attr if isinstance(value, ast.Attribute)
                        else _const(value) if isinstance(_const(value), str) else None)
                hint.process = str(text).lower() if text else self.source(value)
            elif kw.arg == "manager_agent":
                hint.manager_agent = self.agent_ref(value) or self.source(value)
            elif kw.arg == "manager_llm":
                const = _const(value)
                hint.manager_llm = str(const) if isinstance(const, str) else self.source(value)
            elif kw.arg == "agents":
                if isinstance(value, ast.List | ast.Tuple):
                    refs = [self.agent_ref(e) for e in value.elts]
                    hint.agents = [r for r in refs if r]
            elif kw.arg == "tasks":
                if isinstance(value, ast.List | ast.Tuple):
                    refs = [self.task_ref(e) for e in value.elts]
                    if all(refs):
                        hint.tasks = [r for r in refs if r]
            else:
                hint.extras[kw.arg] = self.source(value)
        if hint.tasks is None and scope is not None and not _uses_self_tasks(call):
            # crews built by a function: the task keys its body (and the constants it
            # uses) names, in order
            hint.tasks = self._keys_in_scope(scope, self.task_keys) or None
            if hint.agents is None and hint.tasks:
                hint.agents = self._keys_in_scope(scope, self.agent_keys) or None
        self.hints.crews.append(hint)

    def _keys_in_scope(self, scope: ast.AST, keys: set[str]) -> list[str]:
        found: list[str] = []
        for node in ast.walk(scope):
            names: list[str] = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]
            elif isinstance(node, ast.Name) and node.id in self.consts:
                names = self.consts[node.id]
            found += [n for n in names if n in keys and n not in found]
        return found

    def _inputs(self, tree: ast.Module) -> None:
        """`inputs = {...}` (the one in run() first), or kickoff(inputs={...})."""
        candidates: list[tuple[int, ast.Dict]] = []
        for scope, node in _nodes_in_scopes(tree):
            rank = 0 if getattr(scope, "name", "") == "run" else 1
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                    isinstance(t, ast.Name) and t.id == "inputs" for t in node.targets):
                candidates.append((rank, node.value))
            elif isinstance(node, ast.Call) and _callee(node) == "kickoff":
                for kw in node.keywords:
                    if kw.arg == "inputs" and isinstance(kw.value, ast.Dict):
                        candidates.append((rank + 2, kw.value))
        if not candidates or self.hints.inputs:
            return
        candidates.sort(key=lambda c: c[0])
        for k, v in zip(candidates[0][1].keys, candidates[0][1].values, strict=True):
            key = _const(k) if k is not None else None
            if not isinstance(key, str):
                continue
            value = _const(v)
            if isinstance(value, str | int | float | bool):
                self.hints.inputs[key] = str(value)
            else:  # computed at run time (a date, a file's text): the user gives it
                self.hints.inputs.setdefault(key, "")


def _too_deep(tree: ast.AST) -> int | None:
    """The line where the tree nests deeper than MAX_HINT_DEPTH, else None (walked without
    recursion, so a hostile file cannot exhaust the stack here)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_HINT_DEPTH:
            return getattr(node, "lineno", 1)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


def _uses_self_tasks(call: ast.Call) -> bool:
    return any(kw.arg == "tasks" and _self_call(kw.value) == "tasks" for kw in call.keywords)


def _nodes_in_scopes(tree: ast.Module) -> list[tuple[ast.AST | None, ast.AST]]:
    """Every node with the innermost function around it (None at module level); functions
    remember the class they are in as `_workbench_class`."""
    out: list[tuple[ast.AST | None, ast.AST]] = []

    def visit(node: ast.AST, scope: ast.AST | None, cls: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, scope, child.name)
                continue
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                child._workbench_class = cls  # type: ignore[attr-defined]
                inner = child
            out.append((scope, child))
            visit(child, inner, cls)

    visit(tree, None, None)
    return out


def _calls_in_scopes(tree: ast.Module) -> list[tuple[ast.AST | None, ast.Call]]:
    return [(s, n) for s, n in _nodes_in_scopes(tree) if isinstance(n, ast.Call)]


def read_hints(files: list[tuple[Path, str]], agent_keys: set[str],
               task_keys: set[str]) -> Hints:
    """Hints from `files` (path, name to show), read in order; nothing is imported."""
    reader = _Reader(agent_keys, task_keys)
    # two rounds: methods and variables of every file are known before calls are read
    for path, shown in files:
        reader.read(path, shown)
    first = reader.hints
    if not files:
        return first
    second = _Reader(agent_keys, task_keys)
    second.hints.agent_methods = dict(first.agent_methods)
    second.hints.task_methods = dict(first.task_methods)
    second.agent_vars, second.task_vars = dict(reader.agent_vars), dict(reader.task_vars)
    second.objects, second.consts = dict(reader.objects), dict(reader.consts)
    second.tool_methods = set(reader.tool_methods)
    for path, shown in files:
        second.read(path, shown)
    return second.hints
