"""Hostile YAML (alias bombs, deep nesting, control characters, non-UTF-8 bytes) in a crew,
a policy or `models.yaml`: refused as file:line, exit 2, in well under a second."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import SHIPPED_POLICIES
from workbench.spec.yamlpos import MAX_DEPTH, LocatedYAMLError, load_with_lines

#: 340 bytes that expand to 9**9 (387 million) strings: "billion laughs".
BOMB = """\
name: lol
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

#: name -> (file bytes, line of the problem, words of the problem)
HOSTILE: dict[str, tuple[bytes, int, str]] = {
    # e (59,049 strings) still fits the budget; f (531,441 more) does not
    "alias-bomb": (BOMB.encode(), 7, "more than 100,000 values once aliases are expanded"),
    "deep-flow": (b"version: 1\nrules: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", 2,
                  f"nested more than {MAX_DEPTH} levels deep"),
    "deep-block": (b"version: 1\nrules:\n" + b"- " * 20_000 + b"x\n", 3,
                   f"nested more than {MAX_DEPTH} levels deep"),
    "control-char": (b"version: 1\n\nrules: [a\x07b]\n", 3, "control character U+0007"),
    "latin-1": ("version: 1\nrules: []\n# café\n".encode("latin-1"), 3,
                "not UTF-8 text: byte 0xe9"),
}


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    start = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - start
    return code, capsys.readouterr().err, elapsed


def _check(argv: list[str], file: Path, case: str,
           capsys: pytest.CaptureFixture[str], warm: Callable[[], None]) -> None:
    warm()  # the command's own imports are paid before the clock starts
    capsys.readouterr()
    _, line, problem = HOSTILE[case]
    code, err, elapsed = _run_cli(argv, capsys)
    assert code == 2, err
    assert f"{file}:{line}: " in err, err
    assert problem in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    # the time is the point: a refusal that first expands the bomb (387 million strings)
    # or walks the nesting never ends; refused up front it takes about 0.05 s, so a second
    # is twenty times that and holds on a loaded machine
    assert elapsed < 1.0, f"{case} took {elapsed:.2f} s"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_crew_file(case: str, tmp_path: Path, home: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_bytes(HOSTILE[case][0])
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [\n")
    for command in (["crews", "validate"], ["run"]):
        _check([*command, str(crew)], crew, case, capsys,
               lambda c=command: main([*c, str(broken)]))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_policy_file(case: str, tmp_path: Path, home: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, folder)
    good = tmp_path / "good"
    shutil.copytree(SHIPPED_POLICIES, good)
    central = folder / "central.yaml"
    central.write_bytes(HOSTILE[case][0])
    _check(["policies", "check", str(folder)], central, case, capsys,
           lambda: main(["policies", "check", str(good)]))
    # a domain file is read the same way
    central.write_bytes((good / "central.yaml").read_bytes())
    domain = folder / "domains" / "hostile.yaml"
    domain.parent.mkdir(exist_ok=True)
    domain.write_bytes(HOSTILE[case][0])
    _check(["policies", "check", str(folder)], domain, case, capsys,
           lambda: main(["policies", "check", str(good)]))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_models_yaml(case: str, home: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    models = home / "models.yaml"
    models.write_text("models: []\n")  # a located error of its own, to warm up
    warm = lambda: main(["models", "list"])  # noqa: E731
    models.write_bytes(HOSTILE[case][0])
    _check(["models", "list"], models, case, capsys, warm)
    # the run reads it too, before any agent speaks
    warm()
    capsys.readouterr()
    code, err, _ = _run_cli(["run", "support-triage", "--approvals", "deny"], capsys)
    assert code == 2, err
    assert f"{models}:{HOSTILE[case][1]}: " in err, err


def test_anchors_and_aliases_within_budget_still_work() -> None:
    text = "base: &b {role: Analyst, tools: [calculator]}\n" + "".join(
        f"a{i}: *b\n" for i in range(500))
    data, lines = load_with_lines(text)
    assert data["a499"] == {"role": "Analyst", "tools": ["calculator"]}
    assert data["a0"] is not data["a1"]  # each place gets its own copy, safe to edit
    assert lines[("a499",)] == 501


def test_nesting_limit_is_exact() -> None:
    ok = "- " * MAX_DEPTH + "x\n"
    data, _ = load_with_lines(ok)
    depth = 0
    while isinstance(data, list):
        data, depth = data[0], depth + 1
    assert depth == MAX_DEPTH
    with pytest.raises(LocatedYAMLError, match="nested more than"):
        load_with_lines("- " * (MAX_DEPTH + 1) + "x\n")
    # an alias cannot smuggle in depth the text does not show
    half = MAX_DEPTH // 2 + 1
    deep = "a: &d " + "[" * half + "]" * half + "\nb: " + "[" * half + "*d" + "]" * half + "\n"
    with pytest.raises(LocatedYAMLError, match="nested more than") as caught:
        load_with_lines(deep)
    assert caught.value.line == 2


@pytest.mark.parametrize("text", ["a: &x [1, *x]\n", "&x {a: *x}\n"])
def test_recursive_alias_is_refused(text: str) -> None:
    with pytest.raises(LocatedYAMLError, match="refers to a value that contains it"):
        load_with_lines(text)


def test_aliases_are_counted() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * 1_001) + "]\n"
    with pytest.raises(LocatedYAMLError, match="too many aliases") as caught:
        load_with_lines(text)
    assert caught.value.line == 2


def test_large_string_repeated_by_aliases_is_refused() -> None:
    text = 'a: &a "' + "x" * 100_000 + '"\nb: [' + ", ".join(["*a"] * 300) + "]\n"
    with pytest.raises(LocatedYAMLError, match="characters once aliases are expanded"):
        load_with_lines(text)


def test_byte_order_mark_is_accepted(tmp_path: Path, capsys) -> None:
    from workbench.spec.yamlpos import read_yaml_text

    p = tmp_path / "bom.yaml"
    p.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_with_lines(read_yaml_text(p))[0] == {"a": 1}
