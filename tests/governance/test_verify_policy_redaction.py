"""Redaction variants beyond the issue's list: dashes NFKC keeps (en dash, minus sign) as
separators, and digits of any script, are found as cards and phones."""

from __future__ import annotations

import pytest

from workbench.governance.redact import redact


@pytest.mark.parametrize(("text", "kind"), [
    ("card 4111\u20131111\u20131111\u20131111 ok", "card"),      # en dash
    ("card 4111\u22121111\u22121111\u22121111 ok", "card"),      # minus sign
    ("call (415) 555\u20132671 now", "phone"),
    ("call +1\u2011415\u2011555\u20112671 now", "phone"),        # no-break hyphen
    ("card \u0664\u0661\u0661\u0661" + "\u0661" * 12 + " ok", "card"),  # Arabic-Indic
    ("call (\u096a\u0967\u096b) \u096b\u096b\u096b-\u0968\u096c\u096d\u0967", "phone"),
    ("card ４１１１ １１１１ １１１１ １１１１ ok", "card"),       # full-width
])
def test_other_dashes_and_digits_are_found(text: str, kind: str) -> None:
    out, kinds = redact(text)
    assert kinds == [kind], out
    assert out.startswith(text.split(" ", 1)[0] + " ") and f"[REDACTED:{kind}]" in out
    assert out.endswith(text.rsplit(" ", 1)[1]) or kind == "phone"


def test_text_around_is_left_as_written() -> None:
    text = "Réf. n° 12 – total 4111\u20131111\u20131111\u20131111 – merci"
    assert redact(text) == ("Réf. n° 12 – total [REDACTED:card] – merci", ["card"])


@pytest.mark.parametrize("text", [
    "Write to dana\ufe6bacme.com",                                # small commercial at
    "Card \u0664\u0661\u0661\u0661" + "\u0661" * 12,              # Arabic-Indic digits
    "Card ⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹",                                   # superscripts
    "Card 𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏",                                   # mathematical digits
    "Card 4111\u20131111\u20131111\u20131111",
])
def test_the_shipped_message_rule_does_not_skip_what_the_redactor_finds(text: str) -> None:
    from tests.governance.test_redaction import shipped_message_decision

    assert redact(text)[1], text  # the redactor finds it ...
    assert shipped_message_decision(text) == "redact"  # ... so the rule must hand it over


@pytest.mark.parametrize("text", ["Notes de version 4.2 : export PDF plus rapide",
                                  "ticket 1234567 closed", "Classify the incident"])
def test_the_shipped_message_rule_leaves_plain_text_alone(text: str) -> None:
    from tests.governance.test_redaction import shipped_message_decision

    assert shipped_message_decision(text) == "allow"
