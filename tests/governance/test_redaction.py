"""Redaction finds secrets and personal data in their Unicode and spacing variants, and
leaves ordinary text (dates, versions, short numbers) alone."""

from __future__ import annotations

import pytest

from workbench.governance.redact import redact

ZWSP, NBSP, NNBSP = "\u200b", "\u00a0", "\u202f"

FOUND = [
    # emails: hidden by invisible characters, accented or international domains
    (f"dana{ZWSP}.smith@acme.com", "dana", "email"),
    (f"dana.smith@{ZWSP}acme.com", "acme.com", "email"),
    ("José.García@café.fr", "café.fr", "email"),
    ("jose\u0301@cafe\u0301.fr", "cafe", "email"),  # decomposed accents
    ("anna@münchen.de", "münchen", "email"),
    ("ivan@почта.рф", "почта", "email"),
    ("dana\uff20acme.com", "acme.com", "email"),  # a full-width @
    # cards: any separator, or none, or no-break spaces
    ("4111/1111/1111/1111", "4111", "card"),
    ("4111 1111 1111 1111", "4111", "card"),
    ("4111.1111.1111.1111", "4111", "card"),
    (f"4111{NBSP}1111{NBSP}1111{NBSP}1111", "4111", "card"),
    (f"4111{ZWSP}1111{ZWSP}1111{ZWSP}1111", "1111", "card"),
    ("\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
     "\uff11\uff11\uff11\uff11", "\uff14", "card"),  # full-width digits
    ("5500-0000-0000-0004", "5500", "card"),
    ("378282246310005", "378282", "card"),
    # phones
    ("(415) 555-2671", "555", "phone"),
    ("+1 (415) 555-2671", "555", "phone"),
    ("415.555.2671", "2671", "phone"),
    (f"+44{NNBSP}20{NNBSP}7946{NNBSP}0958", "7946", "phone"),
    ("+44 20 7946 0958", "7946", "phone"),
    # secrets
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0",
     "github_pat_", "api_key"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_", "api_key"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalr",
     "api_key"),
    ("the key is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, keep it", "wJalr", "api_key"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIA", "api_key"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "eyJ", "api_key"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
     "-----END RSA PRIVATE KEY-----", "MIIE", "private_key"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39", "api_key"),
    ("rk_live_51H8abcdefghijklmnop", "51H8", "api_key"),
    ("https://api.example.com/v1/items?api_key=abc123def456&page=2", "abc123", "api_key"),
    ("https://maps.example.com/x?q=oslo&key=AIzaSyB-1234567890", "AIzaSy", "api_key"),
    ("password=hunter2", "hunter2", "password"),
    ('{"user": "dana", "password": "s3cr3t! x"}', "s3cr3t", "password"),
    ("DB_PASSWORD: 'correct horse'", "correct", "password"),
    ("client_secret=Zx81k2LmQpR7", "Zx81", "api_key"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "abcdefghij", "api_key"),
    ("DE89 3704 0044 0532 0130 00", "3704", "iban"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), FOUND)
def test_found_in_every_variant(text: str, secret: str, kind: str) -> None:
    out, kinds = redact(f"Before {text} after.")
    assert secret not in out, out
    assert kind in kinds and f"[REDACTED:{kind}]" in out
    assert out.startswith("Before ") and out.endswith(" after.")


def test_a_private_key_cut_off_before_its_end_goes_to_the_end() -> None:
    out, kinds = redact("key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    assert out == "key:\n[REDACTED:private_key]" and kinds == ["private_key"]


def test_only_the_value_of_a_secret_parameter_goes() -> None:
    out, _ = redact("GET https://api.example.com/v1?api_key=abc123def456&page=2")
    assert out == "GET https://api.example.com/v1?api_key=[REDACTED:api_key]&page=2"
    out, _ = redact('{"user": "dana", "password": "s3cr3t"}')
    assert out == '{"user": "dana", "password": "[REDACTED:password]"}'


def test_text_around_a_match_is_kept_as_written() -> None:
    # the match is found in the normalised text; the rest is not normalised on the way
    text = f"Caf\u00e9 \ufb01le x\u00b2{NBSP}: mail dana{ZWSP}@acme.com, ＡＢＣ."
    out, kinds = redact(text)
    assert kinds == ["email"]
    assert out == f"Caf\u00e9 \ufb01le x\u00b2{NBSP}: mail [REDACTED:email], ＡＢＣ."


ORDINARY = [
    "Release 4.12.0 shipped on 2024-10-01 at 10:30, after 4.11.2 and v10.15.7.",
    "The meeting is on 2024-01-15 10:30:00 UTC, or 15/01/2024, or 01.15.2024.",
    "Revenue was 1,250,000 EUR in Q3 2024, up 12% on 2023; 42 tickets, 3.14, port 8080.",
    "Server 192.168.100.200 answered in 250 ms; build 20240115 passed.",
    "ISBN 978-3-16-148410-0 is on page 12, line 4.",
    "Python 3.11.4 with numpy 1.26.4 and pandas 2.2.1 on Ubuntu 22.04.",
    "max token: 4096, secret: the plan, key: value",
    "Use the @mention syntax or email at example dot com.",
    "The cost is $1,299.99 for 2 seats (12 months).",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == (text, [])


def test_a_luhn_number_outside_the_card_ranges_is_not_a_card() -> None:
    # 14-digit timestamps and the like pass Luhn one time in ten
    assert "card" not in redact("batch 20240115103009 done")[1]


def test_empty_and_ascii_text_without_data() -> None:
    assert redact("") == ("", [])
    assert redact("Classify the incident and set its priority.") == (
        "Classify the incident and set its priority.", [])


def shipped_message_decision(text: str) -> str:
    from tests.governance.test_policies import activation
    from workbench.config import SHIPPED_POLICIES
    from workbench.governance.policy import load_policies
    from workbench.governance.policy_gate import PolicyGate

    act = activation()
    act["message"] = {"text": text, "from": "a", "to": "b", "to_domains": ["default"]}
    return PolicyGate(load_policies(SHIPPED_POLICIES)).decide("message", act).effect


@pytest.mark.parametrize("text", [
    "Write to josé@café.fr", "Write to dana\uff20acme.com",
    f"Card 4111{NBSP}1111{NBSP}1111{NBSP}1111", "Call (415) 555-2671",
    "Card \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
])
def test_the_shipped_message_rule_passes_every_variant_to_the_redactor(text: str) -> None:
    assert shipped_message_decision(text) == "redact"


def test_the_shipped_message_rule_lets_plain_messages_through() -> None:
    assert shipped_message_decision("Release 4.12.0 is out; see the notes.") == "allow"
