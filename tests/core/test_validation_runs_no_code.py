"""Validation runs no user code and refuses what the run refuses (keys in `models:`);
a bad WORKBENCH_APPROVAL_TIMEOUT is bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import Settings
from workbench.errors import UserInputError

CREW = """\
name: {name}
description: {description}
topology: {{kind: network, max_turns: 2}}
agents:
  - name: a
    role: Writer
    goal: Write
    tools: {tools}
  - name: b
    role: Reader
    goal: Read
"""


def _crew(name: str = "tiny", description: str = "A tiny crew", tools: str = "[]") -> str:
    return CREW.format(name=name, description=description, tools=tools)


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return err


# -- validation runs no user code; run imports the tools -------------------------------------


def test_validate_does_not_import_custom_tool_modules(tmp_path: Path, home: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "imported"
    pkg = tmp_path / "mods" / "wb_sidefx_pkg"
    pkg.mkdir(parents=True)
    side_effect = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    (pkg / "__init__.py").write_text(side_effect)
    (pkg / "tools.py").write_text(side_effect + "def shout(text: str) -> str:\n"
                                                "    return text.upper()\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(tools='["wb_sidefx_pkg.tools:shout"]'))
    assert main(["crews", "validate", str(crew)]) == 0, _err(capsys)
    assert not marker.exists(), "validation ran the tool module's code"
    # a run does import it (that is running the crew), and a bad one is bad input, located
    crew.write_text(_crew(tools='["wb_sidefx_pkg.tools:whisper"]'))
    assert main(["crews", "validate", str(crew)]) == 0
    assert not marker.exists()
    assert main(["run", str(crew), "--approvals", "deny"]) == 2
    err = _err(capsys)
    assert f"{crew}:8: custom tool 'wb_sidefx_pkg.tools:whisper' cannot be imported" in err
    assert marker.exists()


@pytest.mark.parametrize(("tool", "problem"), [
    ("no_such_module_xyz:fn", "no module 'no_such_module_xyz' on the Python path"),
    ("os.path:", "must be written module:function"),
    ("a-b:c", "must be written module:function"),
    ("a:b:c", "must be written module:function"),
    (":fn", "must be written module:function"),
])
def test_a_malformed_or_missing_custom_tool_is_refused_at_validation(
        tool: str, problem: str, tmp_path: Path, home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(tools=json.dumps([tool])))
    assert main(["crews", "validate", str(crew)]) == 2
    err = _err(capsys)
    assert f"{crew}:8: " in err and problem in err


def test_a_custom_tool_whose_import_raises_is_bad_input_at_run(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "wb_broken_tool.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew(tools='["wb_broken_tool:fn"]'))
    assert main(["crews", "validate", str(crew)]) == 0
    assert main(["run", str(crew), "--approvals", "deny"]) == 2
    err = _err(capsys)
    assert f"{crew}:8: " in err and "RuntimeError: boom at import" in err


# -- api_key in a crew's models: refused by validate as by run -------------------------------


@pytest.mark.parametrize("profile", ["{model: openai/gpt-4o-mini, api_key: sk-abc}",
                                     "{model: openai/gpt-4o-mini, params: {api_key: sk-abc}}"])
def test_a_key_in_crew_models_is_refused_by_validate_as_by_run(
        profile: str, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(_crew() + f"models:\n  fast: {profile}\n")
    assert main(["crews", "validate", str(crew)]) == 2
    at_validate = _err(capsys)
    assert main(["run", str(crew), "--approvals", "deny"]) == 2
    at_run = _err(capsys)
    assert at_validate == at_run
    assert f"{crew}:13: " in at_validate and "API keys never go in files" in at_validate
    assert "sk-abc" not in at_validate


# -- WORKBENCH_APPROVAL_TIMEOUT ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-5", "0", "nan", "inf", "15m"])
def test_a_bad_approval_timeout_is_bad_input(value: str, home: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORKBENCH_APPROVAL_TIMEOUT", value)
    with pytest.raises(UserInputError, match="number of seconds above 0"):
        _ = Settings().approval_timeout_s
    assert main(["run", "support-triage", "--approvals", "wait"]) == 2
    err = _err(capsys)
    assert f"WORKBENCH_APPROVAL_TIMEOUT must be a number of seconds above 0 (like 900), " \
           f"not {value!r}" in err
    # nothing ran, and commands that never wait for an approval still work
    assert main(["sessions", "list"]) == 0
    assert "no sessions yet" in capsys.readouterr().out


def test_a_good_approval_timeout_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_APPROVAL_TIMEOUT", " 1.5 ")
    assert Settings().approval_timeout_s == 1.5
    monkeypatch.delenv("WORKBENCH_APPROVAL_TIMEOUT")
    assert Settings().approval_timeout_s == 900.0
    assert Settings(approval_timeout=30).approval_timeout_s == 30.0
