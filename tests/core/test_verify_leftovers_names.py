"""A trailing newline (or another control character) is no part of a name: model aliases,
domain names, providers in model strings, stored-key names and eval case ids are refused at
their file:line with the rule (exit 2), like crew names."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import SpecError
from workbench.mesh.cases import parse_cases

CREW_HEAD = "name: names\ntopology: {kind: network, max_turns: 2}\n"


def _validate(home: Path, tmp_path: Path, text: str, capsys) -> tuple[int, str, Path]:
    crew = tmp_path / "names.yaml"
    crew.write_text(text)
    code = main(["--home", str(home), "crews", "validate", str(crew)])
    return code, capsys.readouterr().err, crew


# (crew text, line of the problem, words of the message)
CREWS = [
    # a crew's alias, written as a quoted key and as a block key
    (CREW_HEAD + 'model: fast\nmodels:\n  "fast\\n": {model: scripted/demo}\n'
     "agents:\n  - {name: w, role: W, goal: G}\n", 5, "alias 'fast\\n' must be letters"),
    (CREW_HEAD + "model: fast\nmodels:\n  ? |\n    fast\n  : {model: scripted/demo}\n"
     "agents:\n  - {name: w, role: W, goal: G}\n", 5, "alias 'fast\\n' must be letters"),
    # an agent's domain, as a block scalar (the usual way a newline slips in)
    (CREW_HEAD + "agents:\n  - name: w\n    role: W\n    goal: G\n    domain: |\n      legal\n",
     7, "domain 'legal\\n' is not a domain name: use letters, digits"),
    (CREW_HEAD + 'agents:\n  - {name: w, role: W, goal: G, domain: "legal\\t"}\n',
     4, "is not a domain name"),
    # the provider of a model string: the crew's, an agent's, a profile's, a fallback's
    (CREW_HEAD + 'model: "scripted\\n/demo"\nagents:\n  - {name: w, role: W, goal: G}\n',
     3, "model 'scripted\\n/demo' has a control character"),
    (CREW_HEAD + 'agents:\n  - {name: w, role: W, goal: G, model: "openai\\n/gpt-4o"}\n',
     4, "model 'openai\\n/gpt-4o' has a control character"),
    (CREW_HEAD + 'agents:\n  - {name: w, role: W, goal: G, model: "Open AI/gpt-4o"}\n',
     4, "'Open AI' is not a provider name: use lower-case letters"),
    (CREW_HEAD + 'models:\n  fast: {model: "scripted\\r/demo"}\n'
     "agents:\n  - {name: w, role: W, goal: G, model: fast}\n", 4, "control character"),
    (CREW_HEAD + 'models:\n  fast: {model: scripted/demo, fallbacks: ["openai/gpt-4o\\n"]}\n'
     "agents:\n  - {name: w, role: W, goal: G, model: fast}\n", 4,
     "fallbacks: model 'openai/gpt-4o\\n' has a control character"),
    (CREW_HEAD + 'models:\n  fast:\n    route:\n      - use: "openai\\u0085/gpt-4o"\n'
     "agents:\n  - {name: w, role: W, goal: G, model: fast}\n", 6, "control character"),
    # a stored key's name
    (CREW_HEAD + 'models:\n  fast: {model: openai/gpt-4o, api_base: "http://127.0.0.1:9/v1", '
     'credential: "openai\\n"}\nagents:\n  - {name: w, role: W, goal: G, model: fast}\n',
     4, "must name a stored key"),
]


@pytest.mark.parametrize(("text", "line", "words"), CREWS)
def test_a_crew_name_with_a_control_character_is_refused_at_its_line(
        text: str, line: int, words: str, home: Path, tmp_path: Path, capsys) -> None:
    code, err, crew = _validate(home, tmp_path, text, capsys)
    assert code == 2, err
    assert f"{crew}:{line}: " in err and words in err, err
    assert "Traceback" not in err


def test_the_same_names_without_the_newline_pass(home: Path, tmp_path: Path, capsys) -> None:
    code, err, _ = _validate(home, tmp_path, CREW_HEAD + (
        "model: fast\nmodels:\n  fast: {model: scripted/demo, fallbacks: [openai/gpt-4o]}\n"
        "  proxied: {model: text-completion-openai/x, api_base: 'http://127.0.0.1:9/v1', "
        "credential: my_proxy}\n"
        "agents:\n  - {name: w, role: W, goal: G, domain: Legal_EU-2}\n"
        "  - {name: v, role: V, goal: G, model: proxied}\n"), capsys)
    assert code == 0, err


@pytest.mark.parametrize(("text", "line", "words"), [
    ('models:\n  "fast\\n": {model: scripted/demo}\n', 2, "alias 'fast\\n' must be letters"),
    ('domains:\n  "legal\\n": scripted/demo\n', 2,
     "domains: 'legal\\n' is not a domain name: use letters"),
    ('domains:\n  legal: "openai\\n/gpt-4o"\n', 2, "control character"),
    ('models:\n  fast: {model: "ollama\\n/llama3"}\n', 2, "control character"),
])
def test_models_yaml_names_with_a_control_character_are_refused(
        text: str, line: int, words: str, home: Path, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text(text)
    assert main(["--home", str(home), "models", "list"]) == 2
    err = capsys.readouterr().err
    assert f"{home / 'models.yaml'}:{line}: " in err and words in err, err


@pytest.mark.parametrize("case_id", ['"smoke\\n"', '"smoke\\t"', "|\n      smoke"])
def test_an_eval_case_id_with_a_control_character_is_refused(case_id: str) -> None:
    text = f"cases:\n  - id: {case_id}\n    expect: [{{no_tool: x}}]\n"
    with pytest.raises(SpecError) as err:
        parse_cases(text, "cases.yaml")
    assert str(err.value).startswith("cases.yaml:2: case id 'smoke")
    assert "use letters, digits" in str(err.value)


def test_a_judge_model_with_a_control_character_is_refused() -> None:
    text = 'cases:\n  - id: a\n    expect:\n      - judge: {rubric: r, model: "openai\\n/x"}\n'
    with pytest.raises(SpecError) as err:
        parse_cases(text, "cases.yaml")
    assert str(err.value).startswith("cases.yaml:4: judge: model 'openai\\n/x'")


def test_eval_exits_2_on_a_case_id_with_a_newline(home: Path, tmp_path: Path, capsys) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text('cases:\n  - id: "smoke\\n"\n    expect: [{no_tool: x}]\n')
    assert main(["--home", str(home), "eval", "market-entry", "--cases", str(cases)]) == 2
    err = capsys.readouterr().err
    assert f"{cases}:2: case id 'smoke\\n'" in err and "Traceback" not in err


@pytest.mark.parametrize(("tools", "tags", "line", "words"), [
    ('["json:dumps\\n"]', "", 4, "custom tool 'json:dumps\\n' must be written module:function"),
    ('["json:dumps"]', 'tool_tags: {"json:dumps": ["trusted\\n"]}\n', 3,
     "tool_tags: 'trusted\\n' is not a tag"),
])
def test_a_custom_tool_or_tag_with_a_newline_is_refused(
        tools: str, tags: str, line: int, words: str, home: Path, tmp_path: Path,
        capsys) -> None:
    code, err, crew = _validate(home, tmp_path, CREW_HEAD + tags + (
        f"agents:\n  - {{name: w, role: W, goal: G, tools: {tools}}}\n"), capsys)
    assert code == 2, err
    assert f"{crew}:{line}: " in err and words in err, err
