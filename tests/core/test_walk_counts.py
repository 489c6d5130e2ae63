"""Counts in `workbench eval` output agree with their nouns (`1 run`, `2 runs`), never `run(s)`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_eval_text_output_says_1_case_1_run_without_s_in_brackets(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - id: decision\n    expect: [{contains: \"GO\"}]\n")
    crew = str(ROOT / "crews" / "market-entry.yaml")
    assert main(["--home", str(home), "eval", crew, "--cases", str(cases)]) == 0
    out = capsys.readouterr().out
    assert "on 1 case, 1 run," in out
    assert "1 of 1 run passed (100%)" in out
    eval_id = re.search(r"stored as eval (\w+)", out)
    assert eval_id is not None
    assert main(["--home", str(home), "eval", "show", eval_id.group(1)]) == 0
    shown = capsys.readouterr().out
    assert "; 1 case, repeat 1," in shown and "1 of 1 run passed" in shown
    assert "(s)" not in out + shown


def test_eval_text_output_counts_several_runs_in_the_plural(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - id: decision\n    expect: [{contains: \"GO\"}]\n"
                     "  - id: sizing\n    expect: [{tool_called: calculator}]\n")
    crew = str(ROOT / "crews" / "market-entry.yaml")
    assert main(["--home", str(home), "eval", crew, "--cases", str(cases)]) == 0
    out = capsys.readouterr().out
    assert "on 2 cases, 2 runs," in out and "2 of 2 runs passed (100%)" in out
