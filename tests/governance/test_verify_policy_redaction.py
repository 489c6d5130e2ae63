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
