"""Redaction of secrets and personal data: emails, phones, cards, IBANs, key-shaped strings."""

from __future__ import annotations

import re

_KEYS = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{30,})"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{12,}=*")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(
    r"(?<![\w+])\+?\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){2,4}\b"
)
_HEX_TOKEN = re.compile(r"\b[a-fA-F0-9]{40,}\b")


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def redact(text: str) -> tuple[str, list[str]]:
    """Replace what looks like a secret or personal data by `[REDACTED:kind]`.

    Returns the new text and the kinds found (never the values).
    """
    if not text:
        return text, []
    found: list[str] = []

    def sub(pattern: re.Pattern[str], kind: str, text: str, check=None) -> str:
        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m.group(0)):
                return m.group(0)
            found.append(kind)
            return f"[REDACTED:{kind}]"

        return pattern.sub(repl, text)

    text = sub(_KEYS, "api_key", text)
    text = sub(_BEARER, "api_key", text)
    text = sub(_HEX_TOKEN, "api_key", text)
    text = sub(_EMAIL, "email", text)
    text = sub(_IBAN, "iban", text, _iban_ok)
    text = sub(_CARD, "card", text, lambda v: _luhn(re.sub(r"\D", "", v)))
    text = sub(_PHONE, "phone", text, lambda v: len(re.sub(r"\D", "", v)) >= 9)
    return text, sorted(set(found))
