"""Smaller items checked again: a bad WORKBENCH_APPROVAL_TIMEOUT stops an eval before any
case runs (exit 2, nothing stored), as it stops a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import SHIPPED_CREWS


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_a_bad_approval_timeout_stops_an_eval_before_any_case(
        value: str, home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORKBENCH_APPROVAL_TIMEOUT", value)
    cases = SHIPPED_CREWS / "cases" / "support-triage.yaml"
    assert main(["eval", "support-triage", "--cases", str(cases)]) == 2
    out, err = capsys.readouterr()
    assert f"WORKBENCH_APPROVAL_TIMEOUT must be a number of seconds above 0 (like 900), " \
           f"not {value!r}" in err
    assert "Traceback" not in err and "did not run" not in out
    monkeypatch.delenv("WORKBENCH_APPROVAL_TIMEOUT")
    assert main(["eval", "list"]) == 0
    assert "no evals yet" in capsys.readouterr().out
