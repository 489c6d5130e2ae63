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
