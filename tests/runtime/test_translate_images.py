"""translate/images.py: image data -> images, and image placement in prompts."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from pasture_runtime.errors import OllamaError
from pasture_runtime.protocol import openai as o
from pasture_runtime.translate import images as img
from pasture_runtime.translate import openai_request as to_ollama
from tests.runtime.bombs import png_bomb


def png(mode: str = "RGB", size: tuple[int, int] = (8, 6), color: Any = (200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_decode_images_reads_real_images_as_rgb() -> None:
    [one, two] = img.decode_images([b64(png()), b64(png("L", (3, 4), 7))])
    assert (one.mode, one.size, one.getpixel((0, 0))) == ("RGB", (8, 6), (200, 10, 10))
    assert (two.mode, two.size) == ("RGB", (3, 4))


def test_transparency_is_composited_on_white() -> None:
    [image] = img.decode_images([b64(png("RGBA", (2, 2), (0, 0, 0, 0)))])
    assert image.mode == "RGB"
    assert image.getpixel((1, 1)) == (255, 255, 255)


def test_line_breaks_in_base64_are_ignored_as_go_does() -> None:
    data = b64(png())
    wrapped = "\n".join(data[i : i + 16] for i in range(0, len(data), 16)) + "\r\n"
    assert img.decode_images([wrapped])[0].size == (8, 6)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        ("not base64!", 3),  # the space
        ("data:image/png;base64,QUJD", 4),  # a data URL is not bare base64 (Ollama: 400)
        ("QUJD!", 4),
        ("QUJ", 0),  # an unfinished quantum, unpadded
        ("QUJDRA", 4),
        ("Q===", 1),  # padding cannot start a quantum's 2nd place
        ("QQ==QUJD", 4),  # data after the padding
    ],
)
def test_bad_base64_is_400_with_ollamas_words(data: str, offset: int) -> None:
    with pytest.raises(OllamaError) as e:
        img.decode_images([data])
    assert e.value.status == 400
    assert e.value.message == f"illegal base64 data at input byte {offset}"


@pytest.mark.parametrize(
    "raw",
    [b"", b"hello, world", png()[:20], b"\x89PNG\r\n\x1a\n"],
)
def test_data_that_is_not_an_image_is_400(raw: bytes) -> None:
    with pytest.raises(OllamaError) as e:
        img.decode_images([b64(raw)])
    assert e.value.status == 400
    assert e.value.message == img.NOT_AN_IMAGE


def test_image_url_data_takes_data_urls_only() -> None:
    assert img.image_url_data("data:image/png;base64,QUJD") == "QUJD"
    assert img.image_url_data(" DATA:image/jpeg;name=x.jpg;base64,QUJD ") == "QUJD"
    for url in ("http://example.com/cat.png", "https://example.com/cat.png", "ftp://x/y"):
        with pytest.raises(OllamaError) as e:
            img.image_url_data(url)
        assert e.value.status == 400
        assert "only data URLs" in e.value.message
    for url in ("", "QUJD", "data:text/plain;base64,QUJD", "data:image/png,QUJD"):
        with pytest.raises(OllamaError) as e:
            img.image_url_data(url)
        assert e.value.status == 400
        assert e.value.message == img.NOT_DATA_URL


def test_openai_remote_image_url_is_refused() -> None:
    req = o.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    ],
                }
            ],
        }
    )
    with pytest.raises(OllamaError) as e:
        to_ollama.chat_request(req)
    assert e.value.status == 400
    assert "only data URLs" in e.value.message


def _mark(n: int) -> str:
    return f"<image_{n}>"


def test_place_images_as_content_parts() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is this?", "name": "x"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": ""},
    ]
    out = img.place_images(messages, [0, 2, 0, 1], True, _mark)
    assert out == [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": "what is this?"},
            ],
            "name": "x",
        },
        {"role": "assistant", "content": [{"type": "text", "text": ""}]},
        {"role": "user", "content": [{"type": "image"}]},
    ]
    assert messages[1]["content"] == "what is this?"  # the input is not changed


def test_place_images_as_placeholder_text() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    out = img.place_images(messages, [1, 0, 2], False, _mark)
    assert [m["content"] for m in out] == [
        "<image_1>\nfirst",
        "ok",
        "<image_2>\n<image_3>\nsecond",
    ]
    # A model whose template places images itself has no placeholder text.
    none = img.place_images(messages, [1, 0, 0], False, lambda n: None)
    assert none[0]["content"] == "first"


def test_place_images_needs_one_count_per_message() -> None:
    with pytest.raises(ValueError, match="one image count per message"):
        img.place_images([{"role": "user", "content": "x"}], [], False, _mark)


def test_raw_prompts_need_a_placeholder_per_image() -> None:
    img.check_placeholders("<image>what is this?", 1, lambda n: "<image>")
    img.check_placeholders("<image_1> and <image_2>", 2, _mark)
    img.check_placeholders("no placeholder needed", 1, lambda n: None)
    with pytest.raises(OllamaError) as e:
        img.check_placeholders("<image>what are these?", 2, lambda n: "<image>")
    assert e.value.status == 400
    assert e.value.message.startswith("the raw prompt has 1 image placeholder(s) <image> for 2")
    with pytest.raises(OllamaError):
        img.check_placeholders("<image_1> only", 2, _mark)


@pytest.mark.parametrize("size", [(7100, 7100), (30000, 30000), (12000, 5000)])
def test_images_over_the_pixel_cap_are_400_before_decoding(size: tuple[int, int]) -> None:
    """Decompression bombs: the header's size is checked before any pixel is
    decoded (PIL's own guard lets ~179 M pixels through, some 0.5 GB as RGB)."""
    with pytest.raises(OllamaError) as e:
        img.decode_images([b64(png_bomb(*size))])
    assert e.value.status == 400
    assert e.value.message.startswith("image too large: ")
    assert Image.MAX_IMAGE_PIXELS is not None
    if size[0] * size[1] < 2 * Image.MAX_IMAGE_PIXELS:  # above, PIL's own guard refuses it
        assert e.value.message.startswith(f"image too large: {size[0]}x{size[1]} pixels")


def test_images_up_to_the_pixel_cap_decode() -> None:
    [image] = img.decode_images([b64(png_bomb(4000, 3000))])
    assert image.size == (4000, 3000)
