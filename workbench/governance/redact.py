"""Redaction of secrets and personal data: emails, phones, cards, IBANs, keys, tokens, passwords.

Text is matched in a normalised form (NFKC, zero-width characters dropped, no-break spaces
as spaces, any script's digits as 0-9, dashes as `-`), so `4111\u00a01111…`, `4111–1111…`
or `dana\u200b@acme.com` are found as what they are; what is replaced is the original span,
so the rest of the text reaches the model unchanged.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from typing import Any

# -- normalising --------------------------------------------------------------------------

#: Characters that render as nothing (or as a soft break) and so hide a match when left in.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_NEEDS_WORK = re.compile(f"[^\\x00-\\x7f]|[{_INVISIBLE}]")
_DROP = frozenset(_INVISIBLE)
_SPACES = frozenset("\u00a0\u2007\u202f\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008"
                    "\u2009\u200a\u205f\u3000")
#: Dashes NFKC leaves as they are: `4111–1111–…` and `555‒2671` separate digits as `-` does.
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63")


def _normalise(text: str) -> tuple[str, list[int]] | None:
    """The text to match, and for each of its characters the index in `text` it came from
    (one more entry: the end). None when the text is already what is matched (plain ASCII)."""
    if text.isascii():
        return None
    out: list[str] = []
    origin: list[int] = []
    i, n = 0, len(text)
    for m in _NEEDS_WORK.finditer(text):
        start = m.start()
        if start < i:  # inside a cluster already taken
            continue
        if start > i:
            out.append(text[i:start])
            origin.extend(range(i, start))
        ch = text[start]
        end = start + 1
        if ch in _DROP:
            i = end
            continue
        if ch in _SPACES:
            out.append(" ")
            origin.append(start)
            i = end
            continue
        # a character with the combining marks after it: `e` + U+0301 is `é`
        while end < n and unicodedata.combining(text[end]):
            end += 1
        digit = unicodedata.decimal(ch, None)
        if ch in _DASHES or digit is not None:  # any script's digits: `٤١١١…` is a card
            out.append("-" if digit is None else str(digit))
            origin.append(start)
            i = end
            continue
        if start > 0 and unicodedata.combining(ch) and origin and origin[-1] == start - 1:
            # a mark on a preceding ASCII letter: recompose the pair
            prev = out[-1][-1] if out[-1] else ""
            piece = unicodedata.normalize("NFKC", prev + text[start:end])
            out[-1] = out[-1][:-1]
            origin.pop()
            out.append(piece)
            origin.extend([start - 1] * len(piece))
        else:
            piece = unicodedata.normalize("NFKC", text[start:end])
            out.append(piece)
            origin.extend([start] * len(piece))
        i = end
    if i < n:
        out.append(text[i:])
        origin.extend(range(i, n))
    origin.append(n)
    return "".join(out), origin


# -- what is found --------------------------------------------------------------------------

_KEYS = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{30,})"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{12,}=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*")
_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                  r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)")
#: A secret in a URL's query: only the value goes (`?api_key=[REDACTED:api_key]&page=2`).
_URL_SECRET = re.compile(
    r"(?i)[?&;](?:api[_\-]?key|apikey|key|token|access[_\-]?token|auth|secret|client_secret"
    r"|password|passwd|pwd|sig|signature|x-amz-signature|x-amz-credential)=(?P<v>[^&#\s\"'<>]+)")
#: `password=...`, `"password": "..."`, `DB_PASSWORD: ...`: only the value goes.
_ASSIGNED = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?P<k>password|passwd|pwd|passphrase|secret|client[_\-]?secret"
    r"|api[_\-]?key|access[_\-]?key|secret[_\-]?access[_\-]?key|aws[_\-]?secret[_\-]?access"
    r"[_\-]?key|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|token)[\"']?\s*[:=]\s*"
    r"(?:\"(?P<q>[^\"\n]+)\"|'(?P<s>[^'\n]+)'|(?P<v>[^\s\"',;&}]+))")
#: A 40-character base64 word with upper, lower case and digits: an AWS secret access key
#: (or any secret of that shape; ordinary words are never 40 characters of this).
_B64_40 = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_HEX_TOKEN = re.compile(r"\b[a-fA-F0-9]{40,}\b")
#: Matched from the start of the local part before each `@` (see _emails).
_EMAIL = re.compile(r"[\w.%+\-]+@(?:[\w\-]+\.)+(?:[^\W\d_]{2,}|xn--[\w\-]+)\b")
_LOCAL_PART = frozenset(".%+-_")
# no leading \b: a pattern that starts with a character class is scanned for much faster,
# and the mod-97 check rejects what a word boundary would have
_IBAN = re.compile(r"[A-Z][A-Z]\d\d(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?<![\d.\-/])\d(?:[ \-./]?\d){12,18}(?![\d]|[.\-/]\d)")
_PHONE = re.compile(
    r"(?<![\w+(])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-/]?\d{2,4}){1,4}"
    r"(?![\w]|[.\-/:]\d)"
)
_DATE_LIKE = re.compile(r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}\b|\d{1,2}[\-/.]\d{1,2}[\-/.]\d{4}\b")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


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


def _card_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    # issuers' ranges (Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay): a long
    # number that passes Luhn by chance (one in ten do) is not taken for a card
    first = digits[0]
    if first not in "3456" and not (first == "2" and 2221 <= int(digits[:4]) <= 2720):
        return False
    return _luhn(digits)


def _phone_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    if not 9 <= digits <= 15:
        return False
    return not (_DATE_LIKE.match(value) or _DOTTED_QUAD.fullmatch(value))


def _iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _b64_secret(value: str) -> bool:
    # random base64 has upper, lower case and digits, and few `/` or `+`; a URL path has
    # more slashes, and `//`
    return (any(c.isupper() for c in value) and any(c.islower() for c in value)
            and any(c.isdigit() for c in value) and "//" not in value
            and value.count("/") + value.count("+") <= 4)


def _assigned(m: re.Match[str]) -> tuple[int, int, str] | None:
    """The value of `password=...` and the like, with its kind; None if it is no secret."""
    name = next(g for g in ("q", "s", "v") if m.group(g) is not None)
    value = m.group(name)
    key = m.group("k").lower()
    is_password = key.startswith("pass") or key == "pwd"
    # `token: 4096` or `secret: the plan` is prose; a password may be short
    if value.startswith("[REDACTED") or (not is_password and len(value) < 8):
        return None
    start, end = m.span(name)
    return start, end, "password" if is_password else "api_key"


#: Where a detector looks: the whole text, or only near candidates found by one fast scan
#: (a regular expression costs about as much per character as the next, so twelve of them
#: over a long prompt are kept to four scans).
_DIGIT_RUN = re.compile(r"\d[\d ()./\-]{7,}\d")
_LONG_RUN = re.compile(r"[A-Za-z0-9_/+=\-]{40,}")
_KEY_PREFIXES = ("sk-", "sk_", "rk_", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
                 "github_pat_", "glpat-", "xox", "AIza")
_ASSIGNED_WORDS = ("pass", "pwd", "secret", "key", "token")


def _near(positions: list[tuple[int, int]], before: int, after: int,
          n: int) -> list[tuple[int, int]]:
    """Windows around candidate spans, merged where they touch."""
    out: list[tuple[int, int]] = []
    for start, end in positions:
        lo, hi = max(0, start - before), min(n, end + after)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _emails(text: str) -> list[tuple[int, int]]:
    """Each address, matched once from where its local part starts (at most 64 characters
    before its `@`), rather than tried at every position of the text."""
    found: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:
        start = at
        while start > 0 and at - start < 64 and (text[start - 1].isalnum()
                                                  or text[start - 1] in _LOCAL_PART):
            start -= 1
        m = _EMAIL.match(text, start) if start < at else None
        if m is not None:
            found.append(m.span())
        at = text.find("@", max(at + 1, m.end() if m else 0))
    return found


Check = Callable[[str], bool] | None
#: (pattern, kind, group to replace (None: all of it), check, where it looks).
#: Order matters: a span claimed by an earlier detector is not looked at again.
_DETECTORS: tuple[tuple[re.Pattern[str], str, str | None, Check, str], ...] = (
    (_PEM, "private_key", None, None, "pem"),
    (_JWT, "api_key", None, None, "jwt"),
    (_URL_SECRET, "api_key", "v", None, "url"),
    (_ASSIGNED, "password", None, None, "assigned"),
    (_KEYS, "api_key", None, None, "keys"),
    (_BEARER, "api_key", None, None, "bearer"),
    (_HEX_TOKEN, "api_key", None, None, "long"),
    (_B64_40, "api_key", None, _b64_secret, "long"),
    (_EMAIL, "email", None, None, "emails"),
    (_IBAN, "iban", None, _iban_ok, "all"),
    (_CARD, "card", None, _card_ok, "card-digits"),
    (_PHONE, "phone", None, _phone_ok, "phone-digits"),
)


class _Candidates:
    """The windows of the text each kind of detector looks in, each found once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self._cache: dict[str, list[Any]] = {}
        self._lower: str | None = None

    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def windows(self, where: str) -> list[Any]:
        if where not in self._cache:
            self._cache[where] = self._find(where)
        return self._cache[where]

    def _find(self, where: str) -> list[Any]:
        text, n, whole = self.text, self.n, [(0, self.n)]
        if where == "digits":  # runs of digits and separators, with how many digits
            return [(m.start(), m.end(), sum(map(str.isdigit, m.group())))
                    for m in _DIGIT_RUN.finditer(text)]
        if where in ("card-digits", "phone-digits"):
            # a card has 13 to 19 digits, a phone 9 to 15: shorter runs are not looked at
            least = 13 if where == "card-digits" else 9
            runs = [(a, b) for a, b, digits in self.windows("digits") if digits >= least]
            return _near(runs, 3, 3, n)  # `+` or `(` before it, `.5` after it
        if where == "long":
            # splitting on spaces runs in C: most texts have no 40-character word at all
            if max(map(len, text.split()), default=0) < 40:
                return []
            return _near([m.span() for m in _LONG_RUN.finditer(text)], 1, 1, n)
        if where == "emails":
            return _emails(text) if "@" in text else []
        if where == "all":
            return whole
        if where == "pem":
            present = "PRIVATE KEY" in text
        elif where == "jwt":
            present = "eyJ" in text
        elif where == "url":
            present = "=" in text
        elif where == "assigned":
            present = ("=" in text or ":" in text) and any(
                w in self.lower() for w in _ASSIGNED_WORDS)
        elif where == "keys":
            present = any(k in text for k in _KEY_PREFIXES)
        else:  # bearer
            present = "bearer" in self.lower()
        return whole if present else []


def _spans(text: str) -> list[tuple[int, int, str]]:
    """Where the secrets and personal data are in `text`, as (start, end, kind), in order."""
    taken: list[tuple[int, int, str]] = []
    starts: list[int] = []  # of `taken`, sorted, with their ends alongside
    ends: list[int] = []

    def free(start: int, end: int) -> bool:
        i = bisect.bisect_right(starts, start)
        return (i == 0 or ends[i - 1] <= start) and (i == len(starts) or starts[i] >= end)

    def take(start: int, end: int, kind: str) -> None:
        i = bisect.bisect_right(starts, start)
        starts.insert(i, start)
        ends.insert(i, end)
        taken.append((start, end, kind))

    candidates = _Candidates(text)
    for pattern, kind, group, check, where in _DETECTORS:
        for pos, endpos in candidates.windows(where):
            for m in pattern.finditer(text, pos, endpos):
                if pattern is _ASSIGNED:
                    found = _assigned(m)
                    if found is None:
                        continue
                    start, end, this_kind = found
                else:
                    start, end = m.span(group) if group is not None else m.span()
                    this_kind = kind
                if start == end or not free(start, end):
                    continue
                if check is not None and not check(text[start:end]):
                    continue
                take(start, end, this_kind)
    return sorted(taken)


def redact(text: str) -> tuple[str, list[str]]:
    """Replace what looks like a secret or personal data by `[REDACTED:kind]`.

    Returns the new text and the kinds found (never the values).
    """
    if not text:
        return text, []
    normal = _normalise(text)
    matched = normal[0] if normal is not None else text
    spans = _spans(matched)
    if not spans:
        return text, []
    out: list[str] = []
    at = 0
    for start, end, kind in spans:
        if normal is not None:  # back to the original text's positions
            origin = normal[1]
            start, end = origin[start], origin[end]
            # the invisible characters just past a secret go with it
            if start < at:
                continue
        out.append(text[at:start])
        out.append(f"[REDACTED:{kind}]")
        at = end
    out.append(text[at:])
    return "".join(out), sorted({kind for _, _, kind in spans})
