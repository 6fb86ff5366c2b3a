"""What a finished reply still owes its client (translate/detokenize.py)."""

from __future__ import annotations

import pytest

from pasture_runtime.translate.detokenize import held_back


@pytest.mark.parametrize(
    ("emitted", "decoded", "tail"),
    [
        ("", "\ufffd", "\ufffd"),  # a one-token reply that was a partial byte
        ("", "", ""),  # only an end-of-sequence token (skipped in decoding)
        ("abc", "abc", ""),  # nothing held: nothing added
        ("abc", "abc\ufffd", "\ufffd"),  # the last token's partial character
        ("abc", "abcdé\ufffd", "dé\ufffd"),  # text decoded with the partial byte
        (" Hello", "Hello\ufffd", "\ufffd"),  # sentencepiece: first space dropped
        ("Hello", " Hello\ufffd", "\ufffd"),  # and the other way round
        ("abc", "xyz\ufffd", ""),  # not lined up: add nothing rather than garbage
    ],
)
def test_held_back(emitted: str, decoded: str, tail: str) -> None:
    assert held_back(emitted, decoded) == tail
