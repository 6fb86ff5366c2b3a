"""The pure prompt-fitting rule (translate/fit.py), table-tested.

The chat cases mirror Ollama's server/prompt_test.go (TestChatPrompt,
TestChatPromptTokenizeCalls): the same conversations and limits, the same
stand-in tokenizer (one token per whitespace-separated word, as Ollama's
mockRunner.Tokenize) and template (each message's text then a space), and
768 tokens per image (Ollama's clip estimate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pasture_runtime.errors import OllamaError
from pasture_runtime.translate import fit
from pasture_runtime.translate import options as opt

IMAGE = 768


@dataclass(frozen=True)
class Msg:
    role: str
    content: str = ""
    images: int = 0


HARRY = [
    Msg("user", "You're a test, Harry!"),
    Msg("assistant", "I-I'm a what?"),
    Msg("user", "A test. And a thumping good one at that, I'd wager."),
]
HARRY_IMAGE = [*HARRY[:2], Msg("user", HARRY[2].content, images=1)]
HARRY_IMAGES = [Msg("user", HARRY[0].content, images=1), *HARRY_IMAGE[1:]]
INTERLEAVED = [
    HARRY[0],
    Msg("user", images=1),
    Msg("user", images=1),
    HARRY[1],
    HARRY[2],
]
SYSTEM = Msg("system", "You are the Test Who Lived.")


def cost_of(msgs: list[Msg], calls: list[tuple[int, ...]] | None = None):  # type: ignore[no-untyped-def]
    def cost(kept: tuple[int, ...]) -> int:
        if calls is not None:
            calls.append(kept)
        text = "".join(f"{msgs[i].content} " for i in kept if msgs[i].content)
        return len(text.split()) + IMAGE * sum(msgs[i].images for i in kept)

    return cost


def fitted(msgs: list[Msg], limit: int) -> fit.MessageFit:
    return fit.fit_messages([m.role for m in msgs], cost_of(msgs), limit)


@pytest.mark.parametrize(
    ("name", "msgs", "limit", "kept", "fits"),
    [
        ("messages", HARRY, 64, (0, 1, 2), True),
        # Ollama keeps the last message even when it alone is over the limit;
        # here the caller learns it does not fit (and refuses, see service).
        ("truncate messages", HARRY, 1, (2,), False),
        ("truncate messages with image", HARRY_IMAGE, 64, (2,), False),
        ("truncate messages with images", HARRY_IMAGES, 64, (2,), False),
        ("messages with images", HARRY_IMAGES, 2048, (0, 1, 2), True),
        ("messages with interleaved images", INTERLEAVED, 2048, (0, 1, 2, 3, 4), True),
        ("truncate message with interleaved images", INTERLEAVED, 1024, (2, 3, 4), True),
        ("message with system prompt", [SYSTEM, *HARRY], 2048, (0, 1, 2, 3), True),
        ("out of order system", [*HARRY[:2], SYSTEM, HARRY[2]], 2048, (0, 1, 2, 3), True),
        # Beyond Ollama's table: what is dropped and what never is.
        ("system kept when history is dropped", [SYSTEM, *HARRY], 20, (0, 3), True),
        ("system kept in place", [*HARRY[:2], SYSTEM, HARRY[2]], 17, (2, 3), True),
        ("the last turn when only it fits", [SYSTEM, *HARRY, *HARRY[1:]], 22, (0, 5), True),
    ],
)
def test_chat_fitting_matches_ollamas_prompt_builder(
    name: str, msgs: list[Msg], limit: int, kept: tuple[int, ...], fits: bool
) -> None:
    result = fitted(msgs, limit)
    assert (result.kept, result.fits) == (kept, fits), name
    assert result.dropped == len(msgs) - len(kept)


def test_images_of_dropped_messages_go_with_them() -> None:
    result = fitted(HARRY_IMAGES, 1000)
    assert result.kept == (2,)
    assert result.fits
    assert sum(HARRY_IMAGES[i].images for i in result.kept) == 1


def test_the_last_user_message_and_what_follows_it_are_never_dropped() -> None:
    # An agent loop: the question, the model's tool call, the tool's result.
    msgs = [
        SYSTEM,
        *HARRY,
        Msg("assistant", "calling a tool"),
        Msg("user", "What is the weather?"),
        Msg("assistant", "tool call"),
        Msg("tool", "sunny and warm today"),
    ]
    result = fitted(msgs, 17)
    assert result.kept == (0, 5, 6, 7)
    assert result.fits
    # Ollama would go down to the tool result alone; Pasture stops at the question.
    assert fitted(msgs, 5).kept == (0, 5, 6, 7)
    assert not fitted(msgs, 5).fits


def test_kept_history_starts_at_a_user_message() -> None:
    # 15 tokens fit "I-I'm a what? A test. ..." (from the assistant message)
    # but Pasture starts at a user turn: only the last user message is kept.
    result = fitted(HARRY, 15)
    assert result.kept == (2,)
    assert result.fits


def test_without_user_messages_every_message_is_a_start() -> None:
    msgs = [SYSTEM, Msg("assistant", "one two three"), Msg("assistant", "four")]
    assert fitted(msgs, 7).kept == (0, 2)


@pytest.mark.parametrize(
    ("name", "limit", "max_calls"),
    [("all messages fit", 2048, 1), ("truncate to last message", 5, 5)],
)
def test_chat_fitting_renders_few_candidates(name: str, limit: int, max_calls: int) -> None:
    msgs = [
        Msg("user", "message 1"),
        Msg("assistant", "response 1"),
        Msg("user", "message 2"),
        Msg("assistant", "response 2"),
        Msg("user", "message 3"),
    ]
    calls: list[tuple[int, ...]] = []
    result = fit.fit_messages([m.role for m in msgs], cost_of(msgs, calls), limit)
    assert result.fits, name
    assert len(calls) <= max_calls, name


def test_long_chats_are_fitted_by_binary_search() -> None:
    msgs = [SYSTEM] + [Msg(r, "word " * 10) for _ in range(500) for r in ("user", "assistant")]
    msgs.append(Msg("user", "the question"))
    calls: list[tuple[int, ...]] = []
    result = fit.fit_messages([m.role for m in msgs], cost_of(msgs, calls), 500)
    assert result.fits
    assert result.tokens <= 500
    assert result.kept[0] == 0
    assert result.kept[-1] == len(msgs) - 1
    assert len(calls) <= 12  # 1 + log2(501) + 1, not one per message
    # The longest candidate that fits: one more turn would not.
    start = result.kept[1]
    assert cost_of(msgs)(fit.kept_from([m.role for m in msgs], start - 2)) > 500


@pytest.mark.parametrize(
    ("context", "num_predict", "room"),
    [
        (2048, None, 512),  # a quarter of the window
        (2048, 100, 100),  # num_predict when set
        (2048, 100_000, 1024),  # at most half the window
        (1_000_000, None, fit.ROOM_CAP),  # a long window keeps its history
        (64, 4, 4),
        (1, None, 1),  # never 0
    ],
)
def test_reply_room(context: int, num_predict: int | None, room: int) -> None:
    assert fit.reply_room(context, num_predict) == room


def test_token_truncation_leaves_room_to_answer() -> None:
    plan = opt.plan_sampling(opt.effective_options({}, {"num_ctx": 100}), 2048)
    ids, max_tokens = opt.fit_prompt(list(range(1000)), plan, truncate=True)
    assert ids == list(range(1000 - 75, 1000))
    assert max_tokens == 25
    # A prompt that fits with room is left alone and may fill the window.
    ids, max_tokens = opt.fit_prompt(list(range(70)), plan, truncate=True)
    assert len(ids) == 70
    assert max_tokens == 30
    # truncate: false keeps today's error (no room even for one token).
    with pytest.raises(OllamaError) as e:
        opt.fit_prompt(list(range(100)), plan, truncate=False)
    assert e.value.status == 400
    assert "exceeds the context length" in e.value.message


def chat_fit(msgs: list[Msg], tools: int, context: int, **kw: Any) -> fit.ChatPrompt:
    """fit_chat over a stand-in template: each tool definition is 10 words."""

    def render(kept: tuple[int, ...], with_tools: bool) -> str:
        tool_text = "tool " * 10 * tools if with_tools else ""
        return tool_text + "".join(f"{msgs[i].content} " for i in kept if msgs[i].content)

    def encode(text: str) -> list[int]:
        return list(range(len(text.split())))

    return fit.fit_chat(
        [m.role for m in msgs], [m.images for m in msgs], render, encode,
        image_tokens=kw.pop("image_tokens", IMAGE), context_length=context,
        num_predict=kw.pop("num_predict", None), truncate=kw.pop("truncate", True), tools=tools,
    )  # fmt: skip


def test_fit_chat_keeps_the_ids_of_the_longest_candidate_that_fits() -> None:
    msgs = [SYSTEM, *HARRY, *HARRY[1:]]  # 6 + 4 + 3 + 11 + 3 + 11 words
    # context 40, room 10 (a quarter): budget 30 keeps system + the last turn
    # pair (6 + 11 + 3 + 11 = 31 > 30) -> system + last user message (17).
    out = chat_fit(msgs, 0, 40)
    assert out.kept == (0, 5)
    assert out.dropped == 4
    assert len(out.ids) == 17
    out = chat_fit(msgs, 0, 48)  # budget 36: the last two turns fit
    assert out.kept == (0, 3, 4, 5)
    assert len(out.ids) == 31
    assert chat_fit(msgs, 0, 4096).dropped == 0


def test_fit_chat_with_truncate_false_drops_nothing() -> None:
    out = chat_fit([SYSTEM, *HARRY], 0, 8, truncate=False)
    assert out.kept == (0, 1, 2, 3)
    assert out.dropped == 0
    assert len(out.ids) == 24


def test_fit_chat_refuses_what_cannot_leave_room_to_answer() -> None:
    with pytest.raises(OllamaError) as e:
        chat_fit([SYSTEM, *HARRY], 0, 20)  # budget 15 < system + last (17)
    assert e.value.status == 400
    assert e.value.code == "context_length_exceeded"
    assert e.value.message == (
        "prompt too long: the system prompt and the last user message take 17 tokens; "
        "the context window is 20 tokens (num_ctx) and 5 of them are kept for the reply. "
        "Shorten the message or use a larger num_ctx"
    )


def test_fit_chat_names_tool_definitions_that_take_the_window() -> None:
    with pytest.raises(OllamaError) as e:
        chat_fit([SYSTEM, HARRY_IMAGE[2]], 36, 600)  # 360 + 17 + 768: the image is no tool
    assert e.value.message.startswith(
        "prompt too long: the 36 tool definitions alone take 360 tokens; the context "
    )
    assert "Offer fewer tools (the client's tool settings)" in e.value.message
    # Tools that take less than half the window: the conversation is named.
    with pytest.raises(OllamaError) as e:
        chat_fit([SYSTEM, Msg("user", "word " * 500)], 2, 512)
    assert "the system prompt and the last user message take 526 tokens with the tool" in (
        e.value.message
    )
