"""send_email: no header can be smuggled in through the recipient or the subject, encoded
words included; the outbox message has exactly the headers it was given."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from workbench.tools import ToolContext, ToolError, default_registry


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "ws").mkdir()
    return ToolContext("s1", tmp_path / "ws", tmp_path / "outbox")


async def _send(ctx: ToolContext, to: str, subject: str, body: str = "Body") -> str:
    return await default_registry().get("send_email").invoke(
        ctx, {"to": to, "subject": subject, "body": body})


def _outbox(ctx: ToolContext) -> list[Path]:
    return sorted(ctx.outbox.glob("*.eml")) if ctx.outbox.exists() else []


@pytest.mark.parametrize("subject", [
    "hi\r\nBcc: x@y",
    "hi\nBcc: x@y",
    "hi\x00there",
    "hi\x85there",                                         # NEL, a C1 line break
    "hi\u2028Bcc: x@y",
])
async def test_a_subject_with_control_characters_is_refused(ctx: ToolContext,
                                                            subject: str) -> None:
    with pytest.raises(ToolError, match="subject contains a control character"):
        await _send(ctx, "a@example.com", subject)
    assert _outbox(ctx) == []


@pytest.mark.parametrize("subject", [
    "=?utf-8?q?hi=0D=0ABcc:_x@y?=",                      # a Bcc header once decoded
    "=?utf-8?b?aGkNCkJjYzogeEB5?=",                       # the same in base64
    "=?utf-8?q?=3D=3Futf-8=3Fq=3Fhi=3D0ABcc:_x@y=3F=3D?=",  # an encoded word in an encoded word
    "=?utf-8?q?hi=C2=85Bcc:_x@y?=",                        # NEL, encoded
    "=?utf-8?q?confidential?= plans",                      # words a policy would not see
    "Re: =?UTF-8?B?Y29uZmlkZW50aWFs?=",
    "a=?iso-8859-1*en?Q?x?=b",                             # RFC 2231 language suffix
])
async def test_a_subject_with_an_encoded_word_is_refused(ctx: ToolContext,
                                                         subject: str) -> None:
    """What a policy judges is what the message carries: a mail reader would decode an
    encoded word, so the subject must be written as plain text."""
    with pytest.raises(ToolError, match="write the subject as plain text"):
        await _send(ctx, "a@example.com", subject)
    assert _outbox(ctx) == []


@pytest.mark.parametrize("to", ["Bob@gmail.com", "bob@GMAIL.COM", "bob@Gmail.com"])
async def test_a_recipient_in_mixed_case_is_refused(ctx: ToolContext, to: str) -> None:
    """`args.to.endsWith("@gmail.com")` must see every address that reaches gmail.com."""
    with pytest.raises(ToolError, match="write the address in lower case"):
        await _send(ctx, to, "Hello")
    assert _outbox(ctx) == []


@pytest.mark.parametrize("to", [
    "a@example.com\n",                 # moved the subject into the body
    "a@example.com\r\nBcc: x@y",
    "a@example.com\x00",
])
async def test_a_recipient_with_control_characters_is_refused(ctx: ToolContext,
                                                              to: str) -> None:
    with pytest.raises(ToolError, match="recipient contains a control character"):
        await _send(ctx, to, "Hello")
    assert _outbox(ctx) == []


@pytest.mark.parametrize("to", [
    "x@gmail.com, y@example.com",      # two recipients; a policy reads the string's end
    "Bob <bob@gmail.com>",
    "bob@gmail.com (x@example.com)",
    "=?utf-8?q?bob?=@example.com",
    '"a b"@example.com',
    "nobody",
    "a@localhost",
])
async def test_only_one_bare_address_is_a_recipient(ctx: ToolContext, to: str) -> None:
    with pytest.raises(ToolError, match="not an email address"):
        await _send(ctx, to, "Hello")
    assert _outbox(ctx) == []


async def test_the_written_message_has_exactly_its_headers(ctx: ToolContext) -> None:
    subject = "Grüße: café and a long line " + "word " * 40
    out = await _send(ctx, "it@acme.example.com", subject, "Line one\nLine two\n")
    [path] = _outbox(ctx)
    assert path.name in out
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert sorted(msg.keys()) == sorted(["From", "To", "Subject", "Content-Type",
                                         "Content-Transfer-Encoding", "MIME-Version"])
    assert str(msg["To"]) == "it@acme.example.com"
    # the plain text subject, encoded by the email package, reads back as it was given
    assert b"=?utf-8?" in path.read_bytes()
    assert str(msg["Subject"]).split() == subject.split()
    assert msg.get_content() == "Line one\nLine two\n"
