"""A policy rule on read_file's or write_file's path holds for every spelling of that path:
`./x`, `a/../x`, a trailing or doubled `/`, an absolute path into the workspace, a backslash
or a name not in Unicode NFC is refused, so the file acted on is the one the rule read."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from tests.governance.test_policies import write_policies
from tests.support import make_context
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.spec.schema import CrewSpec

POLICY = """\
version: 1
default: allow
rules:
  - {id: no-secret, on: tool_call, effect: deny, reason: the secret stays put,
     when: 'tool.name in ["read_file", "write_file"] && (args.path == "secret.txt" ||
            args.path.startsWith("private/") || args.path == "café.md")'}
"""


def _context(tmp_path: Path):
    gate = PolicyGate(load_policies(write_policies(tmp_path / "p", POLICY)))
    crew = CrewSpec.model_validate({
        "name": "clerks",
        "agents": [{"name": "clerk", "role": "Clerk", "goal": "File",
                    "tools": ["read_file", "write_file"]}],
    })
    run, events = make_context(crew, tmp_path, gate=gate)
    ws = tmp_path / "workspace"
    (ws / "secret.txt").write_text("s3cret")
    (ws / "private").mkdir()
    (ws / "private" / "key.txt").write_text("k3y")
    (ws / "public").mkdir()
    return run, ws


def spellings(ws: Path) -> list[str]:
    return ["./secret.txt", "public/../secret.txt", "secret.txt/", "secret.txt/.",
            "./private/key.txt", "public/../private/key.txt", "private//key.txt",
            f"{ws.resolve()}/secret.txt", f"{ws.resolve()}/private/key.txt",
            "public/./../secret.txt"]


@pytest.mark.parametrize("index", range(10))
async def test_a_path_rule_holds_for_every_spelling_of_the_path(tmp_path: Path,
                                                                index: int) -> None:
    run, ws = _context(tmp_path)
    path = spellings(ws)[index]
    read = await run.call_tool("clerk", "read_file", {"path": path})
    assert not read.ok and "s3cret" not in read.output and "k3y" not in read.output
    write = await run.call_tool("clerk", "write_file", {"path": path, "content": "owned"})
    assert not write.ok
    assert (ws / "secret.txt").read_text() == "s3cret"
    assert (ws / "private" / "key.txt").read_text() == "k3y"


async def test_the_plain_spelling_is_judged(tmp_path: Path) -> None:
    run, ws = _context(tmp_path)
    outcome = await run.call_tool("clerk", "read_file", {"path": "secret.txt"})
    assert not outcome.ok and "denied by policy: the secret stays put" in outcome.output
    outcome = await run.call_tool("clerk", "write_file",
                                  {"path": "public/notes.md", "content": "ok"})
    assert outcome.ok and (ws / "public" / "notes.md").read_text() == "ok"


async def test_a_refusal_names_the_plain_spelling(tmp_path: Path) -> None:
    run, _ = _context(tmp_path)
    outcome = await run.call_tool("clerk", "write_file",
                                  {"path": "./public/../notes.md", "content": "x"})
    assert not outcome.ok and "write 'notes.md'" in outcome.output


@pytest.mark.parametrize("path", ["public\\notes.md", "public/notes.md/"])
async def test_backslashes_and_trailing_slashes_are_refused(tmp_path: Path,
                                                            path: str) -> None:
    run, ws = _context(tmp_path)
    outcome = await run.call_tool("clerk", "write_file", {"path": path, "content": "x"})
    assert not outcome.ok and "refused" in outcome.output
    assert sorted(p.name for p in (ws / "public").iterdir()) == []
    assert not any("\\" in p.name for p in ws.iterdir())


async def test_a_name_not_in_nfc_is_refused(tmp_path: Path) -> None:
    # a file system that normalises names (APFS, HFS+) stores both spellings as one file
    run, ws = _context(tmp_path)
    decomposed = unicodedata.normalize("NFD", "café.md")
    outcome = await run.call_tool("clerk", "write_file", {"path": decomposed, "content": "x"})
    assert not outcome.ok and "NFC" in outcome.output
    assert not any(p.name.startswith("caf") for p in ws.iterdir())


async def test_a_write_through_a_link_inside_the_workspace_is_refused(tmp_path: Path) -> None:
    # the shipped finance rule allows Markdown and CSV only: a link named like Markdown
    # must not land a script
    (tmp_path / "p").mkdir()
    finance = (Path(__file__).parents[2] / "policies" / "domains" / "finance.yaml").read_text()
    gate = PolicyGate(load_policies(write_policies(tmp_path / "p", "version: 1\nrules: []\n",
                                                   finance=finance)))
    crew = CrewSpec.model_validate({
        "name": "books",
        "agents": [{"name": "clerk", "role": "Clerk", "goal": "File", "domain": "finance",
                    "tools": ["write_file"]}],
    })
    run, _ = make_context(crew, tmp_path, gate=gate)
    ws = tmp_path / "workspace"
    (ws / "tools").mkdir()
    (ws / "notes.md").symlink_to(ws / "run.sh")
    (ws / "docs.md").symlink_to(ws / "tools")
    for path in ("notes.md", "docs.md/run.csv"):
        outcome = await run.call_tool("clerk", "write_file",
                                      {"path": path, "content": "rm -rf /"})
        assert not outcome.ok and "symbolic link" in outcome.output
    assert not (ws / "run.sh").exists() and list((ws / "tools").iterdir()) == []
    outcome = await run.call_tool("clerk", "write_file", {"path": "run.sh", "content": "x"})
    assert not outcome.ok and "denied by policy" in outcome.output
