"""Fitting a prompt into the context window, with room left for the reply.

Chat prompts are fitted by whole messages, after Ollama's chat prompt builder
(server/prompt.go `chatPrompt`): the candidates are the conversation from
message i on, plus every system message before i (in place, so the system
prompt is never dropped); the first candidate, oldest first, that fits wins.
Where Pasture differs, on purpose:

- Ollama keeps at least the last message; Pasture keeps at least the last
  *user* message and everything after it (an agent loop's tool calls and
  results are useless without the question they answer).
- A kept history starts at a user message (or is the whole conversation):
  cutting between a user turn and its reply leaves an assistant or tool
  message first, which many Jinja chat templates refuse to render.
- The budget is the window minus the room kept for the reply (Ollama's
  runner shifts the context while it generates; vLLM cannot, so a prompt
  that fills the window would leave no room to answer).
- Candidates are found by binary search (a handful of renders, not one per
  message): dropping older messages never makes a prompt longer.

Everything here is pure: the caller passes a cost callback (render the kept
messages and count their tokens, images included)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import OllamaError

# With no usable num_predict, the fitting keeps this share of the window for
# the reply, and never more than ROOM_CAP tokens (a long-context model need
# not give up a quarter of a 128k window to history it could have kept).
ROOM_FRACTION = 4
ROOM_CAP = 4096


def reply_room(context_length: int, num_predict: int | None) -> int:
    """Tokens a fitted prompt leaves free for the reply.

    `num_predict` when the client set one, but at most half the window (a
    "reasonable" cap: num_predict 100000 on a 2k window must not refuse every
    prompt); else a quarter of the window, at most ROOM_CAP. Always >= 1."""
    if num_predict is not None and num_predict > 0:
        room = min(num_predict, context_length // 2)
    else:
        room = min(context_length // ROOM_FRACTION, ROOM_CAP)
    return max(1, room)


@dataclass(frozen=True)
class MessageFit:
    """The messages a chat prompt keeps (indices into the conversation)."""

    kept: tuple[int, ...]
    tokens: int  # the kept messages' cost, as the callback counted it
    fits: bool  # tokens <= budget (false: even the smallest candidate is too long)
    total: int  # messages in the conversation

    @property
    def dropped(self) -> int:
        return self.total - len(self.kept)


def _floor(roles: Sequence[str]) -> int:
    """The oldest message that is always kept: the last user message (or the
    last message, when there is no user message)."""
    for i in range(len(roles) - 1, -1, -1):
        if roles[i] == "user":
            return i
    return len(roles) - 1


def candidate_starts(roles: Sequence[str]) -> list[int]:
    """Where a kept history may start, oldest first: the whole conversation,
    then each user message up to the floor. Without any user message every
    message is a start (Ollama's rule)."""
    floor = _floor(roles)
    if not roles or roles[floor] != "user":
        return list(range(max(len(roles), 1)))
    return [0] + [i for i in range(1, floor + 1) if roles[i] == "user"]


def kept_from(roles: Sequence[str], start: int) -> tuple[int, ...]:
    """The system messages before `start`, then every message from `start` on."""
    head = [i for i in range(start) if roles[i] == "system"]
    return (*head, *range(start, len(roles)))


def fit_messages(
    roles: Sequence[str], cost: Callable[[tuple[int, ...]], int], budget: int
) -> MessageFit:
    """The longest candidate whose cost is within `budget`; the smallest one
    (fits=False) when none is. One cost call when everything fits."""
    memo: dict[int, int] = {}

    def cost_of(start: int) -> int:
        if start not in memo:
            memo[start] = cost(kept_from(roles, start))
        return memo[start]

    starts = candidate_starts(roles)
    total = len(roles)
    if cost_of(starts[0]) <= budget:
        return MessageFit(kept_from(roles, starts[0]), memo[starts[0]], True, total)
    # Smallest j in [1, len(starts)) whose candidate fits; costs fall as j grows.
    lo, hi = 1, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if cost_of(starts[mid]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(starts):
        return MessageFit(kept_from(roles, starts[lo]), memo[starts[lo]], True, total)
    last = starts[-1]
    return MessageFit(kept_from(roles, last), cost_of(last), False, total)


@dataclass(frozen=True)
class ChatPrompt:
    """A fitted chat prompt: its token ids and the messages it kept."""

    ids: list[int]
    kept: tuple[int, ...]
    dropped: int  # messages left out (0: the whole conversation)


def fit_chat(
    roles: Sequence[str],
    image_counts: Sequence[int],
    render: Callable[[tuple[int, ...], bool], str],
    encode: Callable[[str], list[int]],
    *,
    image_tokens: int,
    context_length: int,
    num_predict: int | None,
    truncate: bool,
    tools: int = 0,
) -> ChatPrompt:
    """Fit a conversation into `context_length` tokens minus the reply's room.

    `render(kept, with_tools)` renders the kept messages (indices) through the
    chat template; `encode` tokenizes the text. Each image counts
    `image_tokens` (the engine expands its placeholder into that many). With
    `truncate: false` nothing is dropped (the caller refuses a prompt that
    leaves no room at all, as before). A conversation whose last user turn
    and system messages cannot leave the reply its room is a 400 that says
    what does not fit."""
    everything = tuple(range(len(roles)))
    if not truncate:
        return ChatPrompt(encode(render(everything, True)), everything, 0)
    room = reply_room(context_length, num_predict)
    budget = context_length - room
    # Only the longest fitting candidate's ids are kept: binary search finds
    # longer ones as it goes, and huge prompts are not worth holding twice.
    best: tuple[tuple[int, ...], list[int]] | None = None

    def cost(kept: tuple[int, ...]) -> int:
        nonlocal best
        ids = encode(render(kept, True))
        tokens = len(ids) + image_tokens * sum(image_counts[i] for i in kept)
        if tokens <= budget and (best is None or len(kept) > len(best[0])):
            best = (kept, ids)
        return tokens

    result = fit_messages(roles, cost, budget)
    if not result.fits or best is None:
        images = image_tokens * sum(image_counts[i] for i in result.kept)
        raise _too_long(result, images, render, encode, tools, context_length, room)
    kept, ids = best
    return ChatPrompt(ids, kept, result.dropped)


def _too_long(
    smallest: MessageFit,
    image_tokens: int,
    render: Callable[[tuple[int, ...], bool], str],
    encode: Callable[[str], list[int]],
    tools: int,
    context_length: int,
    room: int,
) -> OllamaError:
    """The 400 for a conversation that cannot fit even at its smallest."""
    where = (
        f"the context window is {context_length} tokens (num_ctx) "
        f"and {room} of them are kept for the reply"
    )
    if tools:
        without = len(encode(render(smallest.kept, False))) + image_tokens
        tool_tokens = smallest.tokens - without
        if tool_tokens * 2 >= context_length:
            message = (
                f"prompt too long: the {tools} tool definitions alone take {tool_tokens} "
                f"tokens; {where}. Offer fewer tools (the client's tool settings) "
                "or use a larger num_ctx"
            )
            return OllamaError(400, message, code="context_length_exceeded")
    message = (
        f"prompt too long: the system prompt and the last user message take "
        f"{smallest.tokens} tokens{' with the tool definitions' if tools else ''}; "
        f"{where}. Shorten the message or use a larger num_ctx"
    )
    return OllamaError(400, message, code="context_length_exceeded")
