"""Conditions as the gate evaluates them: only the fields rules read are handed to CEL, and
literal `matches` patterns compiled once mean exactly what CEL's own `matches` means."""

from __future__ import annotations

from pathlib import Path

import cel
import pytest

from tests.governance.test_policies import activation, write_policies
from workbench.governance.condition import FUNCTIONS, compile_condition
from workbench.governance.policy import PolicyError, load_policies
from workbench.governance.policy_gate import PolicyGate

PATTERNS = [
    "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}",
    "\\+?[0-9][0-9 ().-]{8,}[0-9]",
    "[0-9０-９][^A-Za-z]{7,}[0-9０-９]",
    "^ab+c",
    "a|b.c",
    "x*?y",
    "\\d{3}-\\d{4}",
    "(?:ab){2}",
]
TEXTS = ["", "abc", "abbbc x", "mail jo@ex.com", "call +44 20 7946 0958", "ab\nc",
         "tel 555-2671", "ababab", "xxxy", "a\u00e9c", "card ４１１１ １１１１", "٣٣٣-٤٤٤٤",
         "2024-01-15 10:30", "nothing here"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_compiled_pattern_means_what_cels_matches_means(pattern: str) -> None:
    condition = compile_condition('message.text.matches("' + pattern.replace("\\", "\\\\")
                                  + '")')
    assert condition.uses_functions, "this pattern should take the compiled path"
    builtin = cel.compile("message.text.matches(p)")  # CEL's own, pattern as a value
    for text in TEXTS:
        act = {"message": {"text": text}}
        ours = condition.program.execute(cel.Context(act, FUNCTIONS))
        theirs = builtin.execute({**act, "p": pattern})
        assert ours == theirs, (pattern, text)


@pytest.mark.parametrize("pattern", ["^abc$", "(?i)abc", "\\bword\\b", "\\s+", "[[:alpha:]]"])
def test_patterns_whose_meaning_could_differ_keep_cels_matches(pattern: str) -> None:
    condition = compile_condition('message.text.matches("' + pattern.replace("\\", "\\\\")
                                  + '")')
    assert not condition.uses_functions


def test_an_invalid_pattern_is_refused_by_the_check(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", """\
version: 1
rules:
  - id: r
    on: message
    when: 'message.text.matches("[a-")'
    effect: deny
""")
    with pytest.raises(PolicyError, match=r"central.yaml:5: rule 'r': invalid regular "
                                          r"expression \"\[a-\"") as err:
        load_policies(folder)
    assert "\n" not in str(err.value)


def test_comprehension_variables_are_not_taken_for_unknown_names(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", """\
version: 1
rules:
  - {id: r, on: tool_call, when: 'tool.tags.exists(t, t == "external")', effect: deny}
""")
    gate = PolicyGate(load_policies(folder))
    assert gate.decide("tool_call", activation()).effect == "deny"  # tags: [external]


def test_rules_that_read_all_arguments_see_all_of_them(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", """\
version: 1
rules:
  - {id: few, on: tool_call, when: 'size(args) < 3', effect: deny}
  - {id: to, on: tool_call, when: 'args.to == "x@partner.com"', effect: redact}
""")
    gate = PolicyGate(load_policies(folder))
    decision = gate.decide("tool_call", activation(to="x@partner.com", subject="s", body="b"))
    assert decision.rule_ids == ["to"] and decision.effect == "redact"
    assert gate.decide("tool_call", activation(to="x@partner.com")).effect == "deny"


def test_a_field_the_action_lacks_still_fails_closed(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "p", """\
version: 1
rules:
  - {id: r, on: tool_call, when: 'args.to.endsWith("@example.com")', effect: allow}
""")
    decision = PolicyGate(load_policies(folder)).decide("tool_call", activation(path="x"))
    assert decision.effect == "deny" and "could not be evaluated" in decision.reason
