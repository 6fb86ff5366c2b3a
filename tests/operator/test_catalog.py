"""The library catalog as data: the validator (a table of bad entries, each
message naming the entry and field), the shipped file, merging the chart's
extra entries, and a bad catalog stopping the operator at start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pasture_operator import catalog, main
from pasture_operator.catalog_entry import (
    QUANTIZATIONS,
    REASONING_PARSERS,
    TOOL_PARSERS,
    CatalogError,
    validate_entry,
)

HF = {"huggingFace": {"repo": "org/m"}}
FOUR_BIT = {"awq", "gptq", "w4a16"}
# Plain tags without a well-known 4-bit checkpoint vLLM serves: full precision
# (docs/operator.md says so). Small models, and Ollama's current deepseek-r1:8b.
FULL_PRECISION_PLAIN = re.compile(
    r"^(llama3\.2|qwen3:(0\.6b|1\.7b)|gemma2:2b|gemma3:1b|phi3|phi4-mini|smollm2|deepseek-r1:(8b|latest))"
)


@pytest.fixture
def fresh_catalog() -> Iterator[None]:
    catalog.load.cache_clear()
    yield
    catalog.load.cache_clear()


BAD: list[tuple[str, str, Any, str]] = [
    ("not a mapping", "m:1b", "nope", "must be a mapping"),
    ("bad name", "Bad Name", {"source": HF}, "Ollama model name"),
    ("no source", "m:1b", {}, "source must set exactly one"),
    ("two sources", "m:1b", {"source": {**HF, "url": {"url": "http://x"}}}, "exactly one"),
    ("pvc source", "m:1b", {"source": {"pvc": {"claimName": "w"}}}, "not 'pvc'"),
    ("bad repo", "m:1b", {"source": {"huggingFace": {"repo": "nope"}}}, "repo must look like"),
    (
        "hf typo",
        "m:1b",
        {"source": {"huggingFace": {"repo": "o/m", "rev": "x"}}},
        "source.huggingFace has unknown field(s) ['rev']",
    ),
    ("url scheme", "m:1b", {"source": {"url": {"url": "ftp://x"}}}, "source.url.url must start"),
    ("url sha", "m:1b", {"source": {"url": {"url": "http://x", "sha256": "ab"}}}, "sha256"),
    ("unknown field", "m:1b", {"source": HF, "toolparser": "hermes"}, "['toolparser']"),
    ("kind", "m:1b", {"source": HF, "kind": "chat"}, "kind 'chat' is not one of"),
    ("tool parser", "m:1b", {"source": HF, "toolParser": "hermez"}, "toolParser 'hermez'"),
    ("reasoning", "m:1b", {"source": HF, "reasoningParser": "r1"}, "reasoningParser 'r1'"),
    ("vision", "m:1b", {"source": HF, "vision": "yes"}, "vision must be true or false"),
    ("context", "m:1b", {"source": HF, "maxContext": 0}, "maxContext must be a positive"),
    ("context type", "m:1b", {"source": HF, "maxContext": "4k"}, "maxContext must be"),
    ("quantization", "m:1b", {"source": HF, "quantization": "q4_K_M"}, "quantization 'q4_K_M'"),
    ("gated url", "m:1b", {"source": {"url": {"url": "http://x"}}, "gated": True}, "gated"),
    (
        "embedding with tools",
        "m:1b",
        {"source": HF, "kind": "embedding", "toolParser": "hermes"},
        "an embedding entry takes no toolParser",
    ),
]


@pytest.mark.parametrize(("case", "name", "raw", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_entry_names_the_entry_and_field(
    case: str, name: str, raw: Any, fragment: str
) -> None:
    with pytest.raises(CatalogError) as err:
        validate_entry(name, raw)
    assert f"catalog entry {name!r}" in str(err.value)
    assert fragment in str(err.value)


def test_an_entry_with_every_field() -> None:
    entry = validate_entry(
        "m:7b",
        {
            "source": {"huggingFace": {"repo": "org/m-AWQ", "revision": "v2"}},
            "toolParser": "hermes",
            "reasoningParser": "qwen3",
            "maxContext": 8192,
            "gated": True,
            "quantization": "awq",
        },
    )
    assert (entry.repo, entry.revision, entry.kind, entry.vision) == (
        "org/m-AWQ",
        "v2",
        "generation",
        False,
    )
    assert entry.engine_hints == {
        "toolParser": "hermes",
        "reasoningParser": "qwen3",
        "maxContext": 8192,
    }
    assert entry.engine_args == {"language_model_only": True}  # text-only: no image encoder


def test_the_shipped_catalog_is_valid_and_covers_ollamas_common_models() -> None:
    text = catalog.DEFAULT_FILE.read_text()
    entries = catalog.parse(text)
    assert len(entries) == len(yaml.safe_load(text)["entries"])
    for family in (
        "llama3.1", "llama3.2", "qwen2.5", "qwen3", "gemma2", "gemma3", "phi3", "phi4",
        "mistral", "deepseek-r1", "nomic-embed-text", "mxbai-embed-large", "all-minilm",
        "qwen2.5vl",
    ):  # fmt: skip
        assert f"{family}:latest" in entries, family
    assert any(e.vision for e in entries.values())
    assert {entries[n].kind for n in ("nomic-embed-text:latest", "all-minilm:latest")} == {
        "embedding"
    }


def test_plain_tags_are_4_bit_and_fp16_tags_full_precision() -> None:
    for name, entry in catalog.parse(catalog.DEFAULT_FILE.read_text()).items():
        assert entry.quantization in (None, *QUANTIZATIONS), name
        if entry.kind == "embedding":
            assert entry.quantization is None, name  # Ollama serves these unquantized too
        elif name.endswith("-fp16"):
            assert entry.quantization in ("bf16", "fp16"), name
        elif not FULL_PRECISION_PLAIN.match(name):
            assert entry.quantization in FOUR_BIT, name
        if entry.quantization in FOUR_BIT:
            assert not entry.gated, f"{name}: the quantizers' copies are not gated"


@pytest.mark.vllm  # vLLM's own registries/config: the vllm tier
def test_the_validators_parser_names_are_vllms() -> None:
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager

    def names(manager: Any, registered: str) -> set[str]:
        return {*getattr(manager, "lazy_parsers", {}), *getattr(manager, registered, {})}

    assert names(ToolParserManager, "tool_parsers") >= TOOL_PARSERS
    assert names(ReasoningParserManager, "reasoning_parsers") >= REASONING_PARSERS


def test_later_files_replace_entries_and_the_token_default_reaches_gated_ones() -> None:
    shipped = (
        "entries:\n"
        "  a:1b: {source: {huggingFace: {repo: o/a}}, gated: true}\n"
        "  b: {source: {huggingFace: {repo: o/b}}}\n"
    )
    extra = "entries:\n  B:latest: {source: {huggingFace: {repo: o/b2}}}\ntokenSecret: {name: hf}\n"
    merged = catalog.parse_documents([("shipped", shipped), ("extra", extra)])
    assert merged["b:latest"].repo == "o/b2"
    assert merged["a:1b"].token_secret == {"name": "hf", "key": "token"}
    assert merged["b:latest"].token_secret is None  # not gated: no Secret to mount


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("entries: [a]\n", "a top-level `entries` mapping is required"),
        ("entries: {}\nextra: 1\n", "unknown top-level key(s) ['extra']"),
        ("entries:\n  a: {source: {url: {url: 'http://x'}}}\n  A:latest: {source: {url: {url: 'http://y'}}}\n",
         "'a:latest' is listed twice"),
        ("entries: {}\ntokenSecret: {key: t}\n", "tokenSecret must be {name, key}"),
        ("entries: {a: [\n", "not YAML"),
    ],
)  # fmt: skip
def test_a_bad_document_says_which_file(text: str, fragment: str) -> None:
    with pytest.raises(CatalogError) as err:
        catalog.parse_documents([("catalog /etc/extra.yaml", text)])
    assert str(err.value).startswith("catalog /etc/extra.yaml: ")
    assert fragment in str(err.value)


def test_load_reads_every_file_of_the_path_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalog: None
) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("entries:\n  qwen2.5:latest: {source: {huggingFace: {repo: me/mine}}}\n")
    monkeypatch.setenv(catalog.CATALOG_ENV, f"{catalog.DEFAULT_FILE}:{extra}")
    entry = catalog.resolve("qwen2.5")
    assert entry is not None
    assert entry.repo == "me/mine"
    assert catalog.resolve("qwen3") is not None  # the shipped entries stay


def test_a_bad_catalog_stops_the_operator_with_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalog: None
) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "entries:\n  mine:7b: {source: {huggingFace: {repo: o/m}}, toolParser: hermez}\n"
    )
    monkeypatch.setenv(catalog.CATALOG_ENV, f"{catalog.DEFAULT_FILE}:{extra}")
    with pytest.raises(SystemExit) as exited:
        main.cli(["run", "--standalone"])
    message = str(exited.value.code)
    assert message.startswith(
        f"pasture-operator: catalog {extra}: catalog entry 'mine:7b': toolParser"
    )
