"""One library catalog entry: its fields and the pure validator that reads them.

An entry says what an Ollama name stands for: the weights (`source`), how the
engine serves them (`kind`, `toolParser`, `reasoningParser`, `vision`,
`maxContext`, `trustRemoteCode`) and what a person should know (`gated`: the
repo needs a Hugging Face token; `quantization`: the weights' format). Every
error names the entry and the field, so a bad `catalog.extraEntries` value
stops the operator with a message a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Ollama's model name form, as the Model CRD's spec.source.library accepts it.
NAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)?$")
REPO_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
SHA256_PATTERN: Final = re.compile(r"^[a-f0-9]{64}$")
KINDS: Final = ("generation", "embedding")
# The weights' format. The engine reads the real scheme from the checkpoint's
# config (naming `awq` explicitly would force vLLM's slower non-Marlin kernel),
# so this is for people: plain Ollama tags are 4-bit, `-fp16` tags full precision.
QUANTIZATIONS: Final = ("awq", "gptq", "w4a16", "fp8", "bf16", "fp16")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# vLLM 0.32's registered parser names (tests/operator/test_catalog.py checks them
# against vLLM's own registries): a typo fails at load, not in a pod.
TOOL_PARSERS: Final = _words(
    "apertus cohere_command3 cohere_command4 deepseek_v3 deepseek_v31 deepseek_v32 "
    "deepseek_v4 deepseek_v41 dots ernie45 functiongemma gemma4 gigachat3 glm45 "
    "glm47 granite granite-20b-fc granite4 hermes hf hunyuan_a13b hy_v3 hy_v4 "
    "inkling internlm jamba k2_horizon kimi_k2 kimi_k3 lfm2 ling3 llama3_json "
    "llama4_json llama4_pythonic longcat mimo minicpm5 minimax_m2 minimax_m3 mistral "
    "muse_glimmer olmo3 openai phi4_mini_json plamo3 poolside_v1 pythonic "
    "qwen3_coder qwen3_json qwen3_xml seed_oss step3 step3p5 xlam"
)
REASONING_PARSERS: Final = _words(
    "cohere_command3 cohere_command4 deepseek_r1 deepseek_v3 deepseek_v4 "
    "deepseek_v41 ernie45 gemma4 glm45 glm47 granite granite_thinking_parser hf "
    "holo2 hunyuan_a13b hy_v3 hy_v4 inkling k2_horizon kimi_k2 kimi_k3 ling3 mimo "
    "minicpmv minimax_m2 minimax_m2_append_think minimax_m3 mistral muse_glimmer "
    "nemotron_v3 olmo3 openai_gptoss plamo3 poolside_v1 qwen3 seed_oss step3 step3p5"
)
FIELDS: Final = frozenset(
    {
        "source",
        "kind",
        "toolParser",
        "reasoningParser",
        "vision",
        "maxContext",
        "gated",
        "quantization",
        "trustRemoteCode",
    }
)


class CatalogError(ValueError):
    """The catalog file is not valid; the message names the entry and field."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    # A Model spec.source: {huggingFace: {repo, revision}} or {url: {url, sha256}}.
    source: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "generation"
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    vision: bool = False
    max_context: int | None = None
    gated: bool = False
    quantization: str | None = None
    trust_remote_code: bool = False
    # The catalog's default token Secret {name, key} (chart: catalog.hfTokenSecret),
    # set on gated entries when the catalog names one.
    token_secret: Mapping[str, str] | None = None

    @property
    def repo(self) -> str:
        hf = self.source.get("huggingFace") or {}
        return str(hf.get("repo") or "")

    @property
    def revision(self) -> str:
        hf = self.source.get("huggingFace") or {}
        return str(hf.get("revision") or "main")

    @property
    def engine_hints(self) -> dict[str, Any]:
        """Model spec.engine hints the entry implies (the Model's own win over them)."""
        hints: dict[str, Any] = {
            "toolParser": self.tool_parser,
            "reasoningParser": self.reasoning_parser,
            "maxContext": self.max_context,
        }
        return {k: v for k, v in hints.items() if v is not None}

    @property
    def engine_args(self) -> dict[str, Any]:
        """vLLM engine arguments the entry needs. A text-only entry runs the
        engine language-model-only: no image encoder is loaded or profiled."""
        args: dict[str, Any] = {}
        if not self.vision:
            args["language_model_only"] = True
        if self.trust_remote_code:
            args["trust_remote_code"] = True
        return args


def _fail(name: str, message: str) -> CatalogError:
    return CatalogError(f"catalog entry {name!r}: {message}")


def _hf_source(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    repo = body.get("repo")
    if not isinstance(repo, str) or not REPO_PATTERN.match(repo):
        raise _fail(name, f"source.huggingFace.repo must look like 'org/name', got {repo!r}")
    revision = body.get("revision", "main")
    if not isinstance(revision, str) or not revision:
        raise _fail(name, "source.huggingFace.revision must be a non-empty string")
    extra = set(body) - {"repo", "revision"}
    if extra:
        raise _fail(name, f"source.huggingFace has unknown field(s) {sorted(extra)}")
    return {"huggingFace": {"repo": repo, "revision": revision}}


def _url_source(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _fail(name, f"source.url.url must start with http:// or https://, got {url!r}")
    out: dict[str, Any] = {"url": url}
    if "sha256" in body:
        if not isinstance(body["sha256"], str) or not SHA256_PATTERN.match(body["sha256"]):
            raise _fail(name, "source.url.sha256 must be 64 lowercase hex digits")
        out["sha256"] = body["sha256"]
    extra = set(body) - {"url", "sha256"}
    if extra:
        raise _fail(name, f"source.url has unknown field(s) {sorted(extra)}")
    return {"url": out}


def _source(name: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise _fail(name, "source must set exactly one of huggingFace, url")
    kind, body = next(iter(raw.items()))
    if not isinstance(body, Mapping):
        raise _fail(name, f"source.{kind} must be a mapping")
    if kind == "huggingFace":
        return _hf_source(name, body)
    if kind == "url":
        return _url_source(name, body)
    raise _fail(name, f"source must set exactly one of huggingFace, url, not {kind!r}")


def _flag(name: str, raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise _fail(name, f"{key} must be true or false, got {value!r}")
    return value


def _choice(name: str, raw: Mapping[str, Any], key: str, allowed: Any) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        shown = ", ".join(sorted(allowed)) if len(allowed) < 12 else "see docs/operator.md"
        raise _fail(name, f"{key} {value!r} is not one of {shown}")
    return value


def _max_context(name: str, raw: Mapping[str, Any]) -> int | None:
    value = raw.get("maxContext")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(name, f"maxContext must be a positive integer, got {value!r}")
    return value


def validate_entry(name: str, raw: Any) -> CatalogEntry:
    """One entry from its YAML mapping; CatalogError naming the entry and field."""
    if not NAME_PATTERN.match(name):
        raise _fail(name, "the name must be an Ollama model name like 'llama3.2:1b'")
    if not isinstance(raw, Mapping):
        raise _fail(name, "must be a mapping with at least `source`")
    unknown = set(raw) - FIELDS
    if unknown:
        raise _fail(name, f"unknown field(s) {sorted(unknown)}; known: {sorted(FIELDS)}")
    source = _source(name, raw.get("source"))
    kind = _choice(name, raw, "kind", KINDS) or "generation"
    tool_parser = _choice(name, raw, "toolParser", TOOL_PARSERS)
    reasoning_parser = _choice(name, raw, "reasoningParser", REASONING_PARSERS)
    if kind == "embedding" and (tool_parser or reasoning_parser or raw.get("vision")):
        raise _fail(name, "an embedding entry takes no toolParser, reasoningParser or vision")
    gated = _flag(name, raw, "gated")
    if gated and "url" in source:
        raise _fail(name, "gated applies to huggingFace sources (a url source uses headers)")
    return CatalogEntry(
        name=name,
        source=source,
        kind=kind,
        tool_parser=tool_parser,
        reasoning_parser=reasoning_parser,
        vision=_flag(name, raw, "vision"),
        max_context=_max_context(name, raw),
        gated=gated,
        quantization=_choice(name, raw, "quantization", QUANTIZATIONS),
        trust_remote_code=_flag(name, raw, "trustRemoteCode"),
    )
