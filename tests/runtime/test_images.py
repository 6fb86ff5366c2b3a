"""Images end to end: the tiny Idefics3 image + text model (hack/tiny-model
--vision) on its own vLLM engine, started by this module only, behind the
runtime, through the official `ollama` and `openai` clients."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest
from openai.types.chat import ChatCompletionContentPartImageParam, ChatCompletionMessageParam
from PIL import Image

from pasture_runtime.config import RuntimeConfig
from pasture_runtime.engine import Engine, build_engine
from pasture_runtime.translate.images import NOT_AN_IMAGE
from tests.fixtures.engine import TINY_VISION, tiny_vision_engine_config
from tests.runtime.bombs import png_bomb
from tests.runtime.harness import MODEL, Served, serve

pytestmark = pytest.mark.engine

VISION = "tiny-vision:latest"
# One image: `<image>` becomes <fake_token_around_image><global-img>, 16 image
# tokens, <fake_token_around_image> (hack/tiny_vision_model.py); the template
# writes `<image>\n`, so each image adds 19 + 1 tokens to the text-only prompt.
PER_IMAGE = 19 + 1
OPTIONS = {"temperature": 0, "seed": 1, "num_predict": 6}
# A variant whose template takes content as a string: images go in as the
# model's placeholder text instead of content parts.
PLAIN = "tiny-vision-plain:latest"
PLAIN_TEMPLATE = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"


def png(color: tuple[int, int, int] = (220, 30, 30), size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
async def vision_engine(tiny_vision_model_dir: Path) -> AsyncIterator[Engine]:
    """The tiny vision model's engine: started for this module, shut down after it."""
    llm = build_engine(tiny_vision_engine_config(tiny_vision_model_dir))
    try:
        yield Engine(llm)
    finally:
        llm.shutdown()


@pytest.fixture(scope="module")
async def vision_server(
    tiny_vision_model_dir: Path, vision_engine: Engine
) -> AsyncIterator[Served]:
    config = RuntimeConfig.model_validate(
        {
            "engine": {"model": str(tiny_vision_model_dir), "max_model_len": 2048, **TINY_VISION},
            "models": [{"name": VISION}, {"name": PLAIN, "template": PLAIN_TEMPLATE}],
            "server": {"host": "127.0.0.1"},
        }
    )
    async with serve(config, vision_engine) as s:
        yield s


def ollama_client(server: Served) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=server.url)


def openai_client(server: Served) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)


def image_part(url: str) -> ChatCompletionContentPartImageParam:
    return {"type": "image_url", "image_url": {"url": url}}


async def test_ollama_chat_with_images(vision_server: Served) -> None:
    c = ollama_client(vision_server)
    question = {"role": "user", "content": "what is this?"}
    text = await c.chat(model="tiny-vision", messages=[question], options=OPTIONS)
    one = await c.chat(
        model="tiny-vision", messages=[{**question, "images": [png()]}], options=OPTIONS
    )
    assert one.done
    assert one.eval_count
    assert isinstance(one.message.content, str)
    assert one.prompt_eval_count == (text.prompt_eval_count or 0) + PER_IMAGE
    # Greedy and seeded: the same image gives the same answer.
    again = await c.chat(
        model="tiny-vision", messages=[{**question, "images": [b64(png())]}], options=OPTIONS
    )
    assert again.message.content == one.message.content
    # Images in two turns: every one is counted, in its own message.
    two = await c.chat(
        model=VISION,
        messages=[
            {**question, "images": [png((0, 0, 255))]},
            {"role": "assistant", "content": "a square"},
            {"role": "user", "content": "and this?", "images": [png(), png((0, 255, 0), (9, 70))]},
        ],
        options=OPTIONS,
    )
    assert two.done
    assert (two.prompt_eval_count or 0) > 3 * PER_IMAGE


async def test_string_templates_get_placeholder_text(vision_server: Served) -> None:
    c = ollama_client(vision_server)
    question = {"role": "user", "content": "what is this?"}
    text = await c.chat(model=PLAIN, messages=[question], options=OPTIONS)
    one = await c.chat(model=PLAIN, messages=[{**question, "images": [png()]}], options=OPTIONS)
    # `<image>` (then a line break) became the image's 19 tokens.
    assert (one.prompt_eval_count or 0) - (text.prompt_eval_count or 0) >= 19


async def test_ollama_chat_streams_with_an_image(vision_server: Served) -> None:
    c = ollama_client(vision_server)
    messages = [{"role": "user", "content": "what is this?", "images": [png()]}]
    whole = await c.chat(model=VISION, messages=messages, options=OPTIONS)
    parts = [
        p async for p in await c.chat(model=VISION, messages=messages, options=OPTIONS, stream=True)
    ]
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert parts[-1].done
    assert parts[-1].prompt_eval_count == whole.prompt_eval_count


async def test_ollama_generate_with_images(vision_server: Served, tmp_path: Path) -> None:
    c = ollama_client(vision_server)
    picture = tmp_path / "red.png"
    picture.write_bytes(png())
    text = await c.generate(model=VISION, prompt="what is this?", options=OPTIONS)
    one = await c.generate(
        model=VISION,
        prompt="what is this?",
        images=[picture],  # type: ignore[list-item]  # the SDK reads a Path's file
        options=OPTIONS,
    )
    assert one.done
    assert one.eval_count
    assert isinstance(one.response, str)
    assert one.prompt_eval_count == (text.prompt_eval_count or 0) + PER_IMAGE
    # `context` holds the prompt as sent (one placeholder per image) and the output.
    assert one.context
    assert len(one.context) == (text.prompt_eval_count or 0) + 2 + (one.eval_count or 0)
    # A follow-up on that context, without the image again, still runs.
    more = await c.generate(model=VISION, prompt="and now?", context=one.context, options=OPTIONS)
    assert more.done
    assert more.eval_count


async def test_raw_generate_carries_its_own_placeholders(vision_server: Served) -> None:
    c = ollama_client(vision_server)
    out = await c.generate(
        model=VISION, prompt="<image>what is this?", raw=True, images=[png()], options=OPTIONS
    )
    plain = await c.generate(model=VISION, prompt="what is this?", raw=True, options=OPTIONS)
    assert out.prompt_eval_count == (plain.prompt_eval_count or 0) + 19
    # No placeholder for the image: a 400 that says so.
    with pytest.raises(ollama.ResponseError) as e:
        await c.generate(model=VISION, prompt="what is this?", raw=True, images=[png()])
    assert e.value.status_code == 400
    assert "image placeholder" in e.value.error
    # A placeholder cut off by truncation: the engine's refusal is a 400, not a 500.
    with pytest.raises(ollama.ResponseError) as e:
        await c.generate(
            model=VISION,
            prompt="<image>" + " what is this?" * 40,
            raw=True,
            images=[png()],
            options={"num_ctx": 40},
        )
    assert e.value.status_code == 400
    assert "do not match" in e.value.error


async def test_text_only_requests_still_work_on_a_vision_model(vision_server: Served) -> None:
    # The template takes content parts: plain messages are sent as text parts.
    c = ollama_client(vision_server)
    out = await c.chat(
        model=VISION,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        options=OPTIONS,
    )
    assert out.done
    assert out.eval_count


async def test_openai_chat_with_a_data_url(vision_server: Served) -> None:
    c = openai_client(vision_server)
    url = "data:image/png;base64," + b64(png())
    text: list[ChatCompletionMessageParam] = [{"role": "user", "content": "what is this?"}]
    image: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image_part(url)]}
    ]
    plain = await c.chat.completions.create(
        model=VISION,
        messages=text,
        max_tokens=6,
        temperature=0,
        seed=1,
    )
    out = await c.chat.completions.create(
        model=VISION,
        messages=image,
        max_tokens=6,
        temperature=0,
        seed=1,
    )
    assert out.usage is not None
    assert plain.usage is not None
    assert isinstance(out.choices[0].message.content, str)
    assert out.usage.prompt_tokens == plain.usage.prompt_tokens + PER_IMAGE
    # The same request through Ollama's API is the same prompt.
    same = await ollama_client(vision_server).chat(
        model=VISION,
        messages=[{"role": "user", "content": "what is this?", "images": [png()]}],
        options=OPTIONS,
    )
    assert same.prompt_eval_count == out.usage.prompt_tokens
    stream = await c.chat.completions.create(
        model=VISION,
        messages=image,
        max_tokens=6,
        temperature=0,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [ch async for ch in stream]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == out.usage.prompt_tokens


async def test_openai_bad_images_are_openai_400s(vision_server: Served) -> None:
    c = openai_client(vision_server)
    cases = {
        "https://example.com/cat.png": "only data URLs",
        "data:image/png;base64,bm90IGFuIGltYWdl": NOT_AN_IMAGE,
        "data:image/png;base64,%%%": "illegal base64 data",
    }
    for url, words in cases.items():
        messages: list[ChatCompletionMessageParam] = [
            {"role": "user", "content": [{"type": "text", "text": "x"}, image_part(url)]}
        ]
        with pytest.raises(openai.BadRequestError) as e:
            await c.chat.completions.create(model=VISION, messages=messages)
        assert words in e.value.message
        body: Any = e.value.body
        assert set(body) == {"message", "type", "param", "code"}
        assert body["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
@pytest.mark.parametrize(
    ("images", "words"),
    [
        (["not base64!"], "illegal base64 data at input byte 3"),
        ([b64(b"definitely not a picture")], NOT_AN_IMAGE),
        ([b64(png())] * 5, "too many images: 5, at most 4"),  # limit_mm_per_prompt
    ],
)
async def test_ollama_bad_images_are_400s(
    vision_server: Served, path: str, images: list[str], words: str
) -> None:
    if path == "/api/chat":
        body: dict[str, Any] = {
            "model": VISION,
            "messages": [{"role": "user", "content": "x", "images": images}],
        }
    else:
        body = {"model": VISION, "prompt": "x", "images": images}
    async with httpx.AsyncClient(base_url=vision_server.url) as http:
        for stream in (False, True):  # a streamed request is refused before it starts
            r = await http.post(path, json={**body, "stream": stream})
            assert r.status_code == 400, r.text
            assert r.json() == {"error": words} or words in r.json()["error"]


async def test_show_lists_vision(vision_server: Served) -> None:
    shown = await ollama_client(vision_server).show(VISION)
    assert shown.capabilities == ["completion", "vision"]
    assert shown.template
    assert "image" in shown.template


async def test_text_model_refuses_images(server: Served) -> None:
    c = ollama_client(server)
    with pytest.raises(ollama.ResponseError) as e:
        await c.chat(model=MODEL, messages=[{"role": "user", "content": "x", "images": [png()]}])
    assert e.value.status_code == 400
    assert e.value.error == '"tiny:latest" does not support images'
    with pytest.raises(ollama.ResponseError) as e:
        await c.generate(model="tiny", prompt="x", images=[png()])
    assert e.value.status_code == 400
    assert e.value.error == '"tiny" does not support images'
    shown = await c.show(MODEL)
    assert "vision" not in (shown.capabilities or [])


@pytest.mark.parametrize("model", [VISION, PLAIN])
async def test_a_long_chat_keeps_only_the_images_of_the_messages_it_keeps(
    vision_server: Served, model: str
) -> None:
    from pasture_runtime.protocol.ollama import ChatRequest
    from pasture_runtime.translate import fit
    from pasture_runtime.usecases.chat import prepare_chat
    from pasture_runtime.usecases.common import Prepared

    turn = "The quick brown fox jumps over the lazy dog. " * 6
    history: list[dict[str, Any]] = []
    for i in range(60):  # about six windows; the six oldest user turns carry an image
        message: dict[str, Any] = {
            "role": ("user", "assistant")[i % 2],
            "content": f"turn {i}: {turn}",
        }
        if i % 2 == 0 and i < 12:
            message["images"] = [b64(png((i * 20, 0, 0)))]
        history.append(message)
    last = {"role": "user", "content": "what is this?", "images": [b64(png())]}
    body = {"model": model, "messages": [*history, last], "stream": False, "options": OPTIONS}
    # Seven images in all (the limit is four per prompt): the fitted prompt keeps one.
    prep = prepare_chat(vision_server.runtime, ChatRequest.model_validate(body))
    assert isinstance(prep, Prepared)
    assert prep.images is not None
    assert len(prep.images) == 1
    assert "turn 0:" not in vision_server.engine.decode(prep.prompt_ids)
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=120) as http:
        r = await http.post("/api/chat", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    room = fit.reply_room(2048, OPTIONS["num_predict"])
    assert out["eval_count"] == OPTIONS["num_predict"] or out["done_reason"] == "stop"
    assert out["prompt_eval_count"] <= 2048 - room
    assert vision_server.engine.image_tokens >= 16  # the model's 16 image tokens (and more)


@pytest.mark.parametrize("size", [(8000, 8000), (30000, 30000)])
async def test_decompression_bombs_are_400s(vision_server: Served, size: tuple[int, int]) -> None:
    """A few kB of PNG that decode to 64 M or 900 M pixels: refused with a 400
    naming the size before anything is decoded, and the server serves on."""
    bomb = b64(png_bomb(*size))
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=120) as http:
        r = await http.post(
            "/api/chat",
            json={
                "model": VISION,
                "messages": [{"role": "user", "content": "x", "images": [bomb]}],
            },
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"].startswith("image too large: ")
        part = image_part("data:image/png;base64," + bomb)
        messages = [{"role": "user", "content": [part]}]
        r = await http.post("/v1/chat/completions", json={"model": VISION, "messages": messages})
        assert r.status_code == 400
        assert "image too large" in r.json()["error"]["message"]
        adm = vision_server.runtime.admission
        assert adm is not None
        assert adm.in_flight == 0
    ok = await ollama_client(vision_server).generate(
        model=VISION, prompt="x", images=[png()], options=OPTIONS
    )
    assert ok.done
