"""Unit tests for the runtime's bounds (issue 11): admission of lists, metric
label values, the streamed body limit, and numbers in options."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.requests import Request

from pasture_runtime.admission import Admission
from pasture_runtime.errors import BUSY, OllamaError
from pasture_runtime.middleware import endpoint_label
from pasture_runtime.routers.body import read_body
from pasture_runtime.translate import options as opt

# ---- admission: a list takes all its tickets or none


async def test_enter_many_is_all_or_nothing() -> None:
    adm = Admission(max_running=1, max_waiting=2)
    tickets = adm.enter_many(3)
    assert (adm.running, adm.waiting) == (1, 2)
    assert len(tickets) == 3
    with pytest.raises(OllamaError) as e:
        adm.enter_many(1)
    assert (e.value.status, e.value.message) == (503, BUSY)
    for t in tickets:
        t.release()
    assert adm.in_flight == 0
    adm.enter()
    with pytest.raises(OllamaError):
        adm.enter_many(3)  # 1 running slot taken, 2 waiting free: 3 do not fit
    assert (adm.running, adm.waiting) == (1, 0)  # nothing taken by the refusal


async def test_a_borrowed_ticket_waits_for_its_owner_and_never_releases_it() -> None:
    adm = Admission(max_running=1, max_waiting=1)
    first, second = adm.enter(), adm.enter()
    borrowed = second.borrow()
    waiter = asyncio.create_task(borrowed.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    first.release()
    await asyncio.wait_for(waiter, 1)
    borrowed.release()  # the owner's to release, not the borrower's
    assert (adm.running, adm.waiting) == (1, 0)
    second.release()
    assert adm.in_flight == 0


async def test_refuse_waiting_fails_queued_tickets() -> None:
    adm = Admission(max_running=1, max_waiting=2)
    running, queued = adm.enter(), adm.enter()
    waiter = asyncio.create_task(queued.wait())
    await asyncio.sleep(0)
    adm.refuse_waiting()
    with pytest.raises(OllamaError) as e:
        await asyncio.wait_for(waiter, 1)
    assert e.value.status == 503
    assert (adm.running, adm.waiting) == (1, 0)
    running.release()
    assert adm.in_flight == 0


# ---- metric labels: a fixed set


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/api/generate", "/api/generate"),
        ("/api/blobs/sha256:abc", "/api/blobs"),
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/completions", "/v1/completions"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/v1/models", "/v1/models"),
        ("/v1/models/tiny:latest", "/v1/models"),
        ("/v1/models/a/b/c", "/v1/models"),
        ("/v1/junk-1", "other"),
        ("/v1/chat/completions/x", "other"),
        ("/v1/", "other"),
        ("/api/generate/", "other"),
        ("/api/anything", "other"),
        ("/favicon.ico", "other"),
    ],
)
def test_endpoint_labels_come_from_a_fixed_set(path: str, label: str) -> None:
    assert endpoint_label(path) == label


# ---- the body limit, enforced while reading


class _Body(BaseModel):
    model: str | None = None


def _request(chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    served: list[int] = []

    async def receive() -> dict[str, Any]:
        served.append(1)
        if not messages:
            return {"type": "http.disconnect"}
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers or []}
    request = Request(scope, receive)
    request.state.served = served
    return request


async def test_read_body_stops_reading_at_the_limit() -> None:
    chunks = [b'{"model": "', *([b"a" * 1000] * 1000), b'"}']
    request = _request(chunks)
    with pytest.raises(OllamaError) as e:
        await read_body(request, _Body, 10_000)
    assert (e.value.status, e.value.message) == (413, "request body too large")
    assert len(request.state.served) <= 12  # stopped after ~10 kB of 1 MB


async def test_read_body_under_the_limit_parses() -> None:
    body = await read_body(_request([b'{"model":', b' "tiny"}']), _Body, 100)
    assert body.model == "tiny"


# ---- numbers in options


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"temperature": math.nan}, "temperature"),
        ({"top_p": math.inf}, "top_p"),
        ({"min_p": -math.inf}, "min_p"),
        ({"seed": math.inf}, "seed"),
        ({"seed": math.nan}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"seed": -(2**63) - 1}, "seed"),
        ({"seed": 1e19}, "seed"),
        ({"num_predict": 1e400}, "num_predict"),
        ({"top_k": 10**30}, "top_k"),
        ({"num_ctx": -math.inf}, "num_ctx"),
        ({"repeat_last_n": 1e300}, "repeat_last_n"),
    ],
)
def test_non_finite_and_huge_numbers_are_400_naming_the_option(
    options: dict[str, Any], name: str
) -> None:
    with pytest.raises(OllamaError) as e:
        opt.validate_options(options)
    assert e.value.status == 400, e.value.message
    assert f'option "{name}"' in e.value.message, e.value.message


def test_int64_bounds_and_large_finite_floats_are_accepted() -> None:
    out = opt.validate_options(
        {"seed": 2**63 - 1, "num_predict": -(2**63), "temperature": 1e308, "top_k": 2.0**62}
    )
    assert out == {"seed": 2**63 - 1, "num_predict": -(2**63), "temperature": 1e308, "top_k": 2**62}
    plan = opt.plan_sampling(opt.effective_options({}, out), 2048)
    assert plan.kwargs["seed"] == 2**63 - 1
