"""Rate limits (pure, injected clock): requests and tokens per minute per key
and per tenant, Retry-After, recovery after the window, the replica share;
the engine's token counts read from the end of a body."""

from __future__ import annotations

import pytest

from pasture_gateway.identity import ALL_SCOPES, Identity, Limits
from pasture_gateway.protocol.limit_refusals import rate_limited
from pasture_gateway.protocol.requests import Routed, parse
from pasture_gateway.protocol.usage import strip_usage_event, usage_from_tail
from pasture_gateway.routing.limits import REQUESTS, TOKENS, RateLimiter, Refusal, Subject
from pasture_gateway.usecases.admission import priority, subjects

KEY = Subject("key:k1", requests_per_minute=3, tokens_per_minute=None)
TENANT = Subject("tenant:a", requests_per_minute=None, tokens_per_minute=600)


def test_requests_per_minute_refuse_then_recover() -> None:
    lim = RateLimiter()
    assert [lim.admit([KEY], 1.0, 0.0) for _ in range(3)] == [None, None, None]
    refused = lim.admit([KEY], 1.0, 0.5)
    assert refused == Refusal("key:k1", REQUESTS, 3, 20)  # one request back per 20 s
    assert lim.admit([KEY], 1.0, 20.0) is None  # refilled one
    assert lim.admit([KEY], 1.0, 20.5) is not None
    assert [lim.admit([KEY], 1.0, 81.0) for _ in range(3)] == [None, None, None]  # whole window


@pytest.mark.parametrize(
    ("charged", "at", "admitted", "retry_after"),
    [
        (599, 0.0, True, None),  # one token left: passes
        (600, 0.0, False, 1),  # exactly spent: wait for the first token back
        (1200, 0.0, False, 60),  # a minute's debt: a minute
        (1200, 30.0, False, 30),
        (1200, 60.5, True, None),
    ],
)
def test_tokens_are_charged_after_the_fact_and_debt_waits(
    charged: int, at: float, admitted: bool, retry_after: int | None
) -> None:
    lim = RateLimiter()
    assert lim.admit([TENANT], 1.0, 0.0) is None
    lim.charge([TENANT], charged, 1.0, 0.0)
    refused = lim.admit([TENANT], 1.0, at)
    assert (refused is None) == admitted
    if refused is not None:
        assert (refused.kind, refused.retry_after) == (TOKENS, retry_after)


def test_a_refusal_takes_nothing_and_names_the_longest_wait() -> None:
    lim = RateLimiter()
    lim.charge([TENANT], 900, 1.0, 0.0)  # 300 over: 30 s
    refused = lim.admit([KEY, TENANT], 1.0, 0.0)
    assert refused is not None
    assert refused.subject == "tenant:a"
    assert refused.retry_after == 30
    assert lim.buckets[("key:k1", REQUESTS)].level == 3  # the key's request was not taken


@pytest.mark.parametrize(("share", "passed"), [(1.0, 6), (0.5, 3), (1 / 3, 2), (0.01, 1)])
def test_each_gateway_replica_enforces_its_share(share: float, passed: int) -> None:
    lim = RateLimiter()
    six = Subject("key:k", 6, None)
    results = [lim.admit([six], share, 0.0) for _ in range(10)]
    assert sum(r is None for r in results) == passed


def test_refusal_messages_in_each_protocols_shape() -> None:
    reply = rate_limited(Refusal("tenant:team-a", TOKENS, 1000, 12))
    assert reply.status == 429
    assert ("Retry-After", "12") in reply.headers
    assert b'"error": "rate limit exceeded: tenant team-a may use 1000 tokens' in reply.body(
        "/api/chat"
    )
    assert b'"type": "rate_limit_error"' in reply.body("/v1/chat/completions")
    assert b'"code": "rate_limit_exceeded"' in reply.body("/v1/chat/completions")


def test_subjects_and_priority_from_the_identity() -> None:
    plain = Identity("k0", "t", ALL_SCOPES)
    assert subjects(plain) == ()
    limited = Identity(
        "k1", "a", ALL_SCOPES, limits=Limits(requests_per_minute=3),
        tenant_limits=Limits(tokens_per_minute=600, priority=2),
    )  # fmt: skip
    assert subjects(limited) == (KEY, TENANT)
    assert priority(limited) == 2
    assert priority(Identity("k", "a", ALL_SCOPES, limits=Limits(priority=5))) == 5


@pytest.mark.parametrize(
    ("tail", "usage"),
    [
        (b'{"done":true,"prompt_eval_count":12,"eval_count":34}\n', (12, 34)),
        (b'{"model":"m","done": true, "prompt_eval_count": 7, "eval_count": 9}', (7, 9)),
        (  # OpenAI stream with include_usage: the usage chunk, then [DONE]
            b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,'
            b'"total_tokens":11}}\n\ndata: [DONE]\n\n',
            (5, 6),
        ),
        (  # Anthropic: the closing message_delta carries both counts
            b'event: message_delta\ndata: {"type":"message_delta","usage":{"input_tokens":3,'
            b'"output_tokens":4}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
            (3, 4),
        ),
        (b'{"embeddings":[[0.1]],"prompt_eval_count":8}', (8, 0)),
        (b'data: {"choices":[{"delta":{"content":"\\"eval_count\\": 99"}}]}\n\n', (0, 0)),
        (b"", (0, 0)),
    ],
)
def test_usage_from_the_last_bytes(tail: bytes, usage: tuple[int, int]) -> None:
    assert usage_from_tail(tail) == usage


def test_openai_streams_are_asked_for_usage_unless_the_client_did() -> None:
    def body(path: str, doc: str) -> bytes | None:
        routed = parse(path, doc.encode())
        assert isinstance(routed, Routed)
        return routed.usage_body

    wanted = b'"stream_options": {"include_usage": true}'
    assert wanted in (body("/v1/chat/completions", '{"model":"m","stream":true}') or b"")
    kept = '{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}'
    assert b'{"include_usage": true, "x": 1}' in (body("/v1/completions", kept) or b"")
    asked = '{"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    assert body("/v1/chat/completions", asked) is None
    assert body("/v1/chat/completions", '{"model":"m"}') is None  # not a stream: usage is there
    assert body("/api/chat", '{"model":"m","stream":true}') is None


def test_the_usage_event_is_cut_from_a_chunk() -> None:
    last = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":1}}\n\n'
    text = b'data: {"choices":[{"delta":{}}]}\n\n'
    assert strip_usage_event(text + last + b"data: [DONE]\n\n") == text + b"data: [DONE]\n\n"
    assert strip_usage_event(last) == b""
