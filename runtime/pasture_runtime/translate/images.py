"""Images of a request: base64 / data URLs -> decoded images, and where their
placeholders go in the messages a chat template renders. Pure: no framework,
no engine (PIL only decodes).

Ollama's `images` are bare base64 (Go's standard encoding, padded); OpenAI's
`image_url` parts are data URLs here (remote URLs are refused: the server
fetches nothing on a client's behalf). Bad data is the client's fault: a 400
in each protocol's error shape, never a 500 from deep in the engine."""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import OllamaError

if TYPE_CHECKING:
    from PIL.Image import Image

_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
# data:image/<subtype>[;param=value...];base64,<data>
_DATA_URL = re.compile(r"^data:image/[^;,]+(?:;[^;,]*)*;base64,(.*)$", re.I | re.S)

REMOTE_URL = (
    "image URLs are not supported: only data URLs (data:image/<type>;base64,<data>) are accepted"
)
NOT_DATA_URL = "invalid image_url: only data URLs (data:image/<type>;base64,<data>) are accepted"
NOT_AN_IMAGE = "invalid image data: not an image in a format the server can read (PNG, JPEG, ...)"
# Largest image decoded, in pixels (50 M: a 48 MP phone photo, an 8K frame;
# 150 MB as RGB). Checked from the header before any pixel is decoded: a few
# kB of PNG can claim gigapixels, and PIL's own guard (MAX_IMAGE_PIXELS) only
# refuses above ~179 M pixels. vLLM's processors shrink images to far less.
MAX_IMAGE_PIXELS = 50_000_000


def too_large(size: str | None) -> OllamaError:
    limit = f"at most {MAX_IMAGE_PIXELS:,} pixels per image"
    return OllamaError(
        400, f"image too large: {size} pixels, {limit}" if size else f"image too large: {limit}"
    )


def _bad_base64_offset(data: str) -> int:
    """Where Go's base64 decoder would stop: the first byte outside the
    alphabet, a byte after the padding, or the start of an unfinished quantum."""
    seen = 0  # characters of the encoding (Go skips \r and \n)
    padding_at = -1
    quantum_start = 0
    for i, ch in enumerate(data):
        if ch in "\r\n":
            continue
        if ch == "=":
            if padding_at < 0:
                padding_at = i
            if seen % 4 < 2:  # "=" can only end a quantum's 3rd or 4th place
                return i
        elif ch not in _B64_ALPHABET or padding_at >= 0:
            return i
        if seen % 4 == 0:
            quantum_start = i
        seen += 1
    return quantum_start if seen % 4 else len(data)


def decode_base64(data: str) -> bytes:
    """Bare base64 -> bytes, strictly (padded standard alphabet; line breaks
    ignored), as Ollama's JSON decoding of `images` does. Ollama's words."""
    try:
        return base64.b64decode(data.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise OllamaError(
            400, f"illegal base64 data at input byte {_bad_base64_offset(data)}"
        ) from None


def open_image(raw: bytes) -> Image:
    """Decoded bytes -> an RGB image, fully read now: truncated or foreign data
    is a 400 here, not an error inside the engine. Transparency is composited
    on white, as vLLM's own image loader does."""
    from PIL import Image as PILImage

    try:
        img = PILImage.open(io.BytesIO(raw))  # reads the header only
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        # PIL's own guard, for sizes far above ours: it does not say which.
        raise too_large(None) from None
    except Exception:  # PIL raises OSError, SyntaxError, ValueError...
        raise OllamaError(400, NOT_AN_IMAGE) from None
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise too_large(f"{width}x{height}")
    try:
        img.load()
    except Exception:
        raise OllamaError(400, NOT_AN_IMAGE) from None
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = PILImage.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return img.convert("RGB")


def decode_images(images: list[str]) -> list[Image]:
    """Ollama `images` (bare base64) -> images, in order."""
    return [open_image(decode_base64(data)) for data in images]


def image_url_data(url: str) -> str:
    """An OpenAI `image_url.url` -> the bare base64 Ollama's `images` take."""
    url = url.strip()
    if _REMOTE.match(url):
        raise OllamaError(400, REMOTE_URL)
    match = _DATA_URL.match(url)
    if match is None:
        raise OllamaError(400, NOT_DATA_URL)
    return match.group(1)


def place_images(
    messages: list[dict[str, Any]],
    counts: list[int],
    parts: bool,
    placeholder: Callable[[int], str | None],
) -> list[dict[str, Any]]:
    """The messages with their images put where the chat template wants them.

    `counts[i]` is the number of images of `messages[i]`. With `parts` (the
    template iterates content parts, as HF multimodal templates do) every
    content becomes a list: `{"type": "image"}` per image, then the text, as
    vLLM's server passes them; templates that iterate parts would lose a plain
    string's text, so messages without images are converted too. Otherwise
    (a string template) each image's placeholder text (`placeholder(n)`, n
    counting the prompt's images from 1) goes before the message text, one
    per line, as vLLM does. Ollama's messages carry images apart from the
    text, so images come first, as in Ollama's own prompts."""
    if len(counts) != len(messages):
        raise ValueError("one image count per message")
    out: list[dict[str, Any]] = []
    seen = 0
    for message, count in zip(messages, counts, strict=True):
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        if parts and not isinstance(content, list):
            items: list[dict[str, Any]] = [{"type": "image"} for _ in range(count)]
            if text or not count:
                items.append({"type": "text", "text": text})
            message = {**message, "content": items}
        elif count:
            marks = [placeholder(seen + n + 1) for n in range(count)]
            lines = [m for m in marks if m is not None]
            message = {**message, "content": "\n".join([*lines, text])}
        seen += count
        out.append(message)
    return out


def check_placeholders(prompt: str, count: int, placeholder: Callable[[int], str | None]) -> None:
    """A raw prompt (the client's own text) must hold a placeholder for each
    of its `count` images: vLLM has nowhere to put an image without one."""
    needed = Counter(m for m in (placeholder(n) for n in range(1, count + 1)) if m is not None)
    for mark, n in needed.items():
        found = prompt.count(mark)
        if found < n:
            raise OllamaError(
                400,
                f"the raw prompt has {found} image placeholder(s) {mark} for {n} image(s): "
                f"put {mark} where each image goes",
            )
