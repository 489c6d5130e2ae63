"""The import rules of DESIGN.md: only tui/ imports textual, only engines/<name>/ its framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "workbench"
CORE = ("spec", "mesh", "gateway", "governance", "store", "tools")
FRAMEWORKS = {"textual": "tui", "autogen_agentchat": "engines/autogen",
              "autogen_core": "engines/autogen", "autogen_ext": "engines/autogen",
              "crewai": "engines/crewai"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_frameworks_are_imported_only_in_their_own_folder() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        for name in _imports(path) & set(FRAMEWORKS):
            if not rel.startswith(FRAMEWORKS[name] + "/"):
                offenders.append(f"{rel} imports {name}")
    assert not offenders, offenders


def test_core_never_imports_the_ui_or_the_engines() -> None:
    offenders = []
    for folder in CORE:
        for path in (PKG / folder).rglob("*.py"):
            src = path.read_text()
            for banned in ("workbench.tui", "workbench.engines.autogen", "workbench.engines.crewai"):
                if banned in src:
                    offenders.append(f"{path.relative_to(PKG)} mentions {banned}")
    assert not offenders, offenders


def test_help_path_imports_no_framework() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from workbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = [m for m in ('litellm', 'crewai', 'autogen_agentchat', 'autogen_core', "
        "'textual', 'sqlalchemy', 'openai') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- layers: the core below the run, the command line beside the TUI -----------------------

#: The run layer: what runs a crew and shows it. Governance and the store sit below it.
RUN_LAYER = ("workbench.mesh", "workbench.engines", "workbench.cli", "workbench.tui")

#: The run's vocabulary: what an event is and how its numbers read. Plain definitions that
#: the store keeps and governance reads, so they stand below everything else in mesh/.
VOCABULARY = ("workbench.mesh.events", "workbench.mesh.format")

def _imported_modules(path: Path) -> list[tuple[str, bool]]:
    """Each absolute `workbench...` module a file imports, and whether at module level (not
    inside a function, where it runs only when called)."""
    tree = ast.parse(path.read_text())
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lazy.update(id(n) for n in ast.walk(node) if n is not node)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from workbench.mesh import events`: the submodule is what is imported
            subs = [f"{node.module}.{a.name}" for a in node.names
                    if (PKG.parent / f"{node.module}.{a.name}".replace(".", "/")).is_dir()
                    or (PKG.parent / (f"{node.module}.{a.name}".replace(".", "/") + ".py"))
                    .exists()]
            names = subs if len(subs) == len(node.names) else [node.module, *subs]
        else:
            continue
        out.extend((n, id(node) not in lazy) for n in names if n.startswith("workbench"))
    return out


def _under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def test_governance_and_the_store_import_nothing_from_the_run_layer() -> None:
    """Not at import time, not inside a function, not for a type: the run (mesh, engines,
    cli, tui) stands on governance and the store, never the other way round."""
    offenders = set()
    for folder in ("governance", "store"):
        for path in (PKG / folder).rglob("*.py"):
            rel = path.relative_to(PKG).as_posix()
            for module, _ in _imported_modules(path):
                if _under(module, RUN_LAYER) and not _under(module, VOCABULARY):
                    offenders.add((rel, module))
    assert sorted(offenders) == []


def test_the_approval_path_knows_no_run() -> None:
    """Brokers and responders are given a typed request, never the run's context: what
    governance may be asked names no `RunContext` (the run emits the events itself)."""
    offenders = [f"{path.relative_to(PKG)} mentions RunContext"
                 for folder in ("governance", "store")
                 for path in (PKG / folder).rglob("*.py") if "RunContext" in path.read_text()]
    assert offenders == []


def test_what_the_run_context_stands_on_never_reaches_back_up_to_it() -> None:
    """The run context's own parts (lifecycle, bridge, accounting, ...) are below it: none
    of the mesh modules it imports imports the context, nor the session above it."""
    above = ("workbench.mesh.context", "workbench.mesh.session")
    path = PKG / "mesh" / "context.py"
    parts = {m for m, top in _imported_modules(path) if top and _under(m, ("workbench.mesh",))}
    assert {"workbench.mesh.lifecycle", "workbench.mesh.bridge",
            "workbench.mesh.accounting"} <= parts
    offenders = [f"{m} imports {n}" for m in sorted(parts)
                 for n, _ in _imported_modules(PKG.parent / (m.replace(".", "/") + ".py"))
                 if _under(n, above)]
    assert offenders == []


def test_the_runs_vocabulary_stands_on_nothing_but_itself() -> None:
    """What the store and governance may read of mesh/ imports nothing else of the workbench
    (the errors aside), so reading it never pulls the run in."""
    offenders = []
    for module in VOCABULARY:
        path = PKG.parent / (module.replace(".", "/") + ".py")
        offenders += [f"{module} imports {m}" for m, _ in _imported_modules(path)
                      if not _under(m, (*VOCABULARY, "workbench.errors"))]
    assert offenders == []


def test_the_cli_imports_the_tui_only_through_its_launcher_and_only_when_opening_it() -> None:
    offenders = []
    for path in (PKG / "cli").rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        for module, top_level in _imported_modules(path):
            if not _under(module, ("workbench.tui",)):
                continue
            if top_level or module != "workbench.tui.launch":
                offenders.append(f"{rel} imports {module}"
                                 + (" at import time" if top_level else ""))
    assert offenders == []


def test_the_tui_never_imports_the_cli() -> None:
    """The launcher (and every screen) stands on its own: no import cycle with the CLI."""
    offenders = [f"{path.relative_to(PKG)} imports {module}"
                 for path in (PKG / "tui").rglob("*.py")
                 for module, _ in _imported_modules(path) if _under(module, ("workbench.cli",))]
    assert offenders == []


def test_cli_modules_share_helpers_only_through_public_names() -> None:
    """`cli/common.py` holds what the command groups share; no `from workbench.cli.x import _y`."""
    offenders = []
    for path in (PKG / "cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module
                    and _under(node.module, ("workbench.cli",))):
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_")]
    assert offenders == []


def test_every_command_has_its_handler_from_the_one_registry() -> None:
    """Each command a user can type reaches a handler its group module registered."""
    import argparse

    from workbench.cli.app import GROUPS, build_parser

    def leaves(parser: argparse.ArgumentParser, path: list[str], handler: object):
        # a group's handler holds for its actions unless one sets its own, as in parse_args
        handler = parser.get_default("handler") or handler
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, handler
        for action in subs:
            for name, child in action.choices.items():
                yield from leaves(child, [*path, name], handler)

    found = list(leaves(build_parser(), [], None))
    assert len(found) > 20
    group_modules = {g.__name__ for g in GROUPS}
    for path, handler in found:
        assert callable(handler), path
        assert handler.__module__ in group_modules, (path, handler.__module__)


def test_importing_the_cli_loads_no_tui_module() -> None:
    code = (
        "import sys\n"
        "from workbench.cli import build_parser\n"
        "build_parser()\n"
        "print(','.join(m for m in sys.modules if m.startswith('workbench.tui')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
