from __future__ import annotations

from pathlib import Path

import pytest

from pasture_operator import catalog, modelfile
from pasture_operator.reconcile.resolve import resolve


def test_parses_every_instruction() -> None:
    mf = modelfile.parse(
        "FROM llama3.2:1b\n"
        "# a comment\n"
        "PARAMETER temperature 0.7\n"
        "PARAMETER num_ctx 4096\n"
        'PARAMETER stop "<|eot|>"\n'
        "PARAMETER stop </s>\n"
        'SYSTEM """You are\n  a pirate."""\n'
        "TEMPLATE {{ .Prompt }}\n"
        "ADAPTER hf.co/org/lora\n"
        'LICENSE """MIT"""\n'
        "MESSAGE user Hello there\n"
        'MESSAGE assistant "Arr"\n'
    )
    assert mf.from_ == "llama3.2:1b"
    assert mf.parameters == {"temperature": 0.7, "num_ctx": 4096, "stop": ["<|eot|>", "</s>"]}
    assert mf.system == "You are\n  a pirate."
    assert mf.template == "{{ .Prompt }}"
    assert mf.adapters == ["hf.co/org/lora"]
    assert mf.license == "MIT"
    assert mf.messages == [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Arr"},
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("FROM x\nBOGUS y", 2, "unknown instruction 'BOGUS'"),
        ("FROM x\n\nPARAMETER temperature hot", 3, "temperature needs a float"),
        ("FROM x\nPARAMETER wibble 1", 2, "unknown parameter 'wibble'"),
        ("FROM x\nMESSAGE robot hi", 2, "MESSAGE role"),
        ('FROM x\nSYSTEM """never closed\nstill', 2, "unterminated"),
        ("SYSTEM hi", 1, "no FROM"),
        ("FROM a\nFROM b", 2, "FROM given twice"),
    ],
)
def test_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(modelfile.ModelfileError) as e:
        modelfile.parse(text)
    assert e.value.line == line
    assert fragment in str(e.value)
    assert str(e.value).startswith(f"line {line}:")


@pytest.mark.parametrize(
    ("ref", "source"),
    [
        ("llama3.2:1b", {"library": "llama3.2:1b"}),
        ("hf.co/org/repo:v2", {"huggingFace": {"repo": "org/repo", "revision": "v2"}}),
        ("org/repo", {"huggingFace": {"repo": "org/repo", "revision": "main"}}),
        ("https://example.com/m.tar.gz", {"url": {"url": "https://example.com/m.tar.gz"}}),
        ("pvc://weights/tiny", {"pvc": {"claimName": "weights", "path": "tiny"}}),
    ],
)
def test_from_maps_to_a_source(ref: str, source: dict[str, object]) -> None:
    assert modelfile.source_from(ref) == source


def test_catalog_resolves_and_defaults_the_tag() -> None:
    entry = catalog.resolve("qwen2.5")
    assert entry is not None
    assert entry.repo == "Qwen/Qwen2.5-7B-Instruct-AWQ"  # plain tags are 4-bit
    assert catalog.resolve("Llama3.2:1B") == catalog.load()["llama3.2:1b"]
    assert catalog.resolve("no-such-model:7b") is None


def test_catalog_file_is_validated_and_a_library_name_expands_to_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(catalog.CatalogError, match="'bad:1b'"):
        catalog.parse("entries:\n  bad:1b: {source: {huggingFace: {}}}\n")
    path = tmp_path / "catalog.yaml"
    path.write_text("entries:\n  tiny: {source: {url: {url: 'http://127.0.0.1:1/t.tar'}}}\n")
    monkeypatch.setenv(catalog.CATALOG_ENV, str(path))
    catalog.load.cache_clear()
    try:
        model = {
            "metadata": {"name": "tiny"},
            "spec": {"source": {"library": "tiny"}, "cache": {"size": "1Gi"}},
        }
        resolved = resolve(model)
        assert resolved.source["url"] == {"url": "http://127.0.0.1:1/t.tar"}
        assert resolved.source_text == "library://tiny"
    finally:
        catalog.load.cache_clear()
