"""AutoGen messages as OpenAI messages: each conversation's history is converted once, and a
conversion always equals converting the whole prompt afresh."""

from __future__ import annotations

import gc

from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)

from workbench.engines.autogen import client
from workbench.engines.autogen.client import to_openai


def _message(i: int) -> LLMMessage:
    shapes: list[LLMMessage] = [
        UserMessage(content=f"Turn {i}", source="scout"),
        AssistantMessage(content=[FunctionCall(id=f"c{i}", name="write_file",
                                               arguments='{"path": "a.md"}')],
                         thought="writing", source="me"),
        FunctionExecutionResultMessage(content=[
            FunctionExecutionResult(call_id=f"c{i}", name="write_file", content="done",
                                    is_error=False),
            FunctionExecutionResult(call_id=f"d{i}", name="write_file", content="also",
                                    is_error=False)]),
        AssistantMessage(content=f"Answer {i}", source="me"),
        UserMessage(content=["a part", "another"], source="user"),
    ]
    return shapes[i % len(shapes)]


def _fresh(messages: list[LLMMessage]) -> list[dict]:
    return client._convert(messages)


def test_a_growing_conversation_converts_as_a_whole_would() -> None:
    messages: list[LLMMessage] = [SystemMessage(content="You are the scout.")]
    for i in range(30):
        messages.append(_message(i))
        assert to_openai(list(messages)) == _fresh(messages)
    # the tool results of one message are two OpenAI messages
    assert sum(m["role"] == "tool" for m in to_openai(messages)) == 12


def test_only_the_new_messages_are_converted() -> None:
    messages: list[LLMMessage] = [SystemMessage(content="S")]
    for i in range(20):
        messages.append(_message(i))
        to_openai(messages)
    converted = to_openai(messages)
    messages.append(UserMessage(content="new", source="scout"))
    again = to_openai(messages)
    # the history's dicts are the ones made before: it was not converted again
    assert all(a is b for a, b in zip(converted, again, strict=False))
    assert again[-1] == {"role": "user", "content": "new", "name": "scout"}
    assert again is not converted  # each call gets its own list


def test_a_changed_or_shorter_history_is_converted_again() -> None:
    messages: list[LLMMessage] = [SystemMessage(content="S")] + [_message(i) for i in range(8)]
    to_openai(messages)
    edited = list(messages)
    edited[2] = UserMessage(content="replaced", source="critic")
    assert to_openai(edited) == _fresh(edited)
    assert to_openai(messages[:4]) == _fresh(messages[:4])
    assert to_openai(messages) == _fresh(messages)
    assert to_openai([]) == []


def test_a_conversation_that_is_gone_leaves_nothing_behind() -> None:
    head = SystemMessage(content="a conversation of its own")
    to_openai([head, _message(0), _message(1)])
    key = id(head)
    assert key in client._CONVERTED
    del head
    gc.collect()
    assert key not in client._CONVERTED


def test_an_image_reaches_the_model_as_a_marker_never_as_data() -> None:
    """The client tells AutoGen it takes images (so AutoGen does not rebuild every history
    on every call) and marks each image's place itself, as AutoGen's remove_images does."""
    from autogen_core import Image
    from autogen_core.models import UserMessage

    from workbench.engines.autogen.client import MODEL_INFO, to_openai

    # a 1x1 PNG
    image = Image.from_base64(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
        "RU5ErkJggg==")
    converted = to_openai([UserMessage(content=["Look at this:", image], source="user")])
    assert converted == [{"role": "user", "content": "Look at this:\n<image>"}]
    assert MODEL_INFO["vision"] is True
