"""The one layer that talks to vLLM: build the engine from config, tokenize,
render chat templates, generate, abort, health (with tool_parsing.py, which
holds vLLM's tool-call parsers). Code above these modules never sees vLLM
types, so engine upgrades touch them only.

We code against AsyncLLM's engine-client methods (generate/abort/check_health),
not vLLM's OpenAI server classes, which change every release."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import EngineConfig
from .template_sandbox import SANDBOX, TemplateRefused
from .tool_parsing import ToolCallStream, parse_tool_calls
from .translate.detokenize import held_back

if TYPE_CHECKING:
    from vllm.engine.arg_utils import AsyncEngineArgs

log = logging.getLogger(__name__)


def engine_args(cfg: EngineConfig) -> AsyncEngineArgs:
    """AsyncEngineArgs for the config: the same code builds the production
    engine and the tests' shared engine, so both run with the same settings."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    kwargs: dict[str, Any] = {
        "model": cfg.model,
        "runner": cfg.runner,
        "dtype": cfg.dtype,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "enforce_eager": cfg.enforce_eager,
        "enable_lora": cfg.enable_lora,
        "max_lora_rank": cfg.max_lora_rank,
        "seed": cfg.seed,
    }
    for key in ("max_model_len", "max_num_seqs", "quantization", "reasoning_parser"):
        value = getattr(cfg, key)
        if value is not None:
            kwargs[key] = value
    # No length set: the model's own maximum if the KV cache holds one such
    # sequence, else the longest it holds (vLLM's auto-fit) rather than a
    # failed start. Ollama picks 4k/32k/256k by VRAM instead (docs/runtime.md).
    kwargs.setdefault("max_model_len", -1)
    kwargs.update(cfg.extra_args)
    if "structured_outputs_config" not in kwargs:
        from vllm.config import StructuredOutputsConfig

        # vLLM 0.32 backends read disable_any_whitespace from this engine-wide
        # config, not from the request's StructuredOutputsParams. Compact JSON
        # (no free whitespace) keeps a weak model from spending its budget on
        # spaces; it needs an explicit backend, and xgrammar is vLLM's default.
        kwargs["structured_outputs_config"] = StructuredOutputsConfig(
            backend="xgrammar", disable_any_whitespace=True
        )
    return AsyncEngineArgs(**kwargs)


def _check_schema(schema: dict[str, Any]) -> None:
    """Compile a JSON schema now, so a bad one is a 400 before any stream starts
    (vLLM would only reject it once the request reaches its processor), with
    the same checks as vLLM's xgrammar backend (the one engine_args picks)."""
    import xgrammar as xgr
    from vllm.v1.structured_output.backend_xgrammar import (
        has_xgrammar_unsupported_json_features,
    )

    try:
        if has_xgrammar_unsupported_json_features(schema):
            raise ValueError("the schema uses features the xgrammar backend does not support")
        xgr.Grammar.from_json_schema(schema)
    except Exception as e:
        # xgrammar prefixes "[time] file.cc:line:"; the rest is the reason.
        reason = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", str(e)).strip()
        raise EngineBadRequest(f"invalid JSON schema in format: {reason}") from e


def _client_errors() -> tuple[type[Exception], ...]:
    """What vLLM raises for a bad request (input validation in its processor):
    ValueError in older code paths, VLLMClientError (not a ValueError) in newer."""
    from vllm.exceptions import VLLMClientError

    return (ValueError, VLLMClientError)


def build_engine(cfg: EngineConfig) -> Any:
    """Start vLLM's AsyncLLM (spawns the engine-core process; slow)."""
    from vllm.v1.engine.async_llm import AsyncLLM

    return AsyncLLM.from_engine_args(engine_args(cfg))


@dataclass(frozen=True)
class Delta:
    """New output of one request since the previous Delta."""

    text: str
    token_ids: list[int]
    finished: bool
    finish_reason: str | None
    # Engine-core timestamps and counts (set on the final Delta when known).
    queued_ts: float = 0.0
    scheduled_ts: float = 0.0
    first_token_ts: float = 0.0
    last_token_ts: float = 0.0
    # The prompt as the engine ran it: with images, each placeholder has been
    # expanded into the model's image tokens, so this is the real count.
    prompt_tokens: int = 0


@dataclass(frozen=True)
class Pooled:
    """One finished embedding request."""

    vector: list[float]
    prompt_tokens: int
    queued_ts: float = 0.0
    scheduled_ts: float = 0.0


class EngineBadRequest(Exception):
    """The engine refused the request's parameters (a client error)."""


class Engine:
    """Our engine client: a thin, typed face over vLLM's AsyncLLM."""

    def __init__(self, llm: Any, owns: bool = False) -> None:
        self.llm = llm
        self.owns = owns  # shut it down on close (production), not in tests
        self.active: set[str] = set()
        self._ids = itertools.count()
        self._lora_ids: dict[str, int] = {}
        self._reasoners: dict[str, Any] = {}

    # ---- facts about the model
    @property
    def max_model_len(self) -> int:
        return int(self.llm.model_config.max_model_len)

    @property
    def hf_config(self) -> Any:
        return self.llm.model_config.hf_config

    @property
    def is_multimodal(self) -> bool:
        """The model takes images (vLLM found a multimodal architecture)."""
        return bool(getattr(self.llm.model_config, "is_multimodal_model", False))

    @property
    def max_num_seqs(self) -> int:
        return int(self.llm.vllm_config.scheduler_config.max_num_seqs)

    @property
    def tokenizer(self) -> Any:
        return self.llm.get_tokenizer()

    @functools.cached_property
    def chat_template(self) -> str | None:
        """The model's chat template. Multimodal models often ship theirs with
        the processor (chat_template.jinja / processor_config.json) rather than
        the tokenizer: resolved the way vLLM's own server does, processor first."""
        template: Any = getattr(self.tokenizer, "chat_template", None)
        if self.is_multimodal:
            from vllm.renderers.hf import resolve_chat_template

            try:
                template = resolve_chat_template(
                    self.tokenizer, None, None, model_config=self.llm.model_config
                )
            except Exception:  # no processor template: keep the tokenizer's
                log.debug("no processor chat template", exc_info=True)
        return template if isinstance(template, str) else None

    # ---- images
    def content_format(self, template: str) -> str:
        """How `template` takes message content: "openai" (a list of parts,
        `{"type": "image"}` / `{"type": "text", ...}`, as HF multimodal
        templates do) or "string" (text, with the image placeholders in it).
        vLLM's own detection (it reads the template's Jinja AST)."""
        from vllm.renderers.hf import _detect_content_format

        return str(_detect_content_format(template, default="string"))

    @functools.cached_property
    def max_images(self) -> int:
        """Images one prompt may carry: 0 unless the model takes images (a
        text-only model, or one whose other modality is audio), else vLLM's
        limit (the model's own maximum and `limit_mm_per_prompt`)."""
        if not self.is_multimodal:
            return 0
        from vllm.multimodal import MULTIMODAL_REGISTRY

        try:
            info = MULTIMODAL_REGISTRY.get_processing_info(self.llm.model_config)
            return int(info.allowed_mm_limits.get("image", 0))
        except Exception:  # no processor for this architecture: no images
            log.warning("cannot read the model's image limit; images are refused", exc_info=True)
            return 0

    @functools.cached_property
    def _model_cls(self) -> Any:
        from vllm.model_executor.model_loader import get_model_cls

        return get_model_cls(self.llm.model_config)

    def image_placeholder(self, index: int) -> str | None:
        """The text that stands for the `index`-th image (1-based) of a prompt
        (e.g. `<image>`), which vLLM expands into the image's tokens; None when
        the model's template places images itself."""
        placeholder = self._model_cls.get_placeholder_str("image", index)
        return str(placeholder) if placeholder is not None else None

    @functools.cached_property
    def image_tokens(self) -> int:
        """Prompt tokens one image may take once vLLM expands its placeholder
        (the model's maximum), for fitting chats with images to the window;
        Ollama's estimate (768) when vLLM cannot tell."""
        if not self.is_multimodal:
            return 0
        from vllm.multimodal import MULTIMODAL_REGISTRY
        from vllm.multimodal.encoder_budget import get_mm_max_toks_per_item

        try:
            processor = MULTIMODAL_REGISTRY.create_processor(self.llm.model_config)
            per_item = get_mm_max_toks_per_item(processor, {"image": 1}, None)
            return int(per_item.get("image", 768))
        except Exception:
            log.warning("cannot read the model's tokens per image; assuming 768", exc_info=True)
            return 768

    # ---- text
    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        # verbose=False: a prompt longer than the tokenizer's model_max_length
        # is normal here (it is fitted to the window next); transformers would
        # log "Token indices sequence length is longer than ..." for it.
        ids = self.tokenizer.encode(text, add_special_tokens=add_special_tokens, verbose=False)
        return [int(i) for i in ids]

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids))

    def render_chat(
        self,
        messages: list[dict[str, Any]],
        template: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        untrusted: bool = False,
        **variables: Any,
    ) -> str:
        """Render messages with the chat template (the model's, or `template`).
        An `untrusted` template (a request's) runs in the bounded sandbox
        process instead (template_sandbox.py): blocking, so call it off the
        event loop."""
        if untrusted and template:
            context = {
                **self.tokenizer.special_tokens_map,
                "messages": messages,
                "tools": tools or None,
                "documents": None,
                "add_generation_prompt": True,
                **variables,
            }
            try:
                return SANDBOX.render(template, context)
            except TemplateRefused as e:
                raise EngineBadRequest(f"template: {e}") from e
        try:
            rendered = self.tokenizer.apply_chat_template(
                messages,
                chat_template=template or self.chat_template,
                tools=tools or None,
                add_generation_prompt=True,
                tokenize=False,
                **variables,
            )
        except Exception as e:  # jinja errors, missing template: the request's fault
            raise EngineBadRequest(f"template: {e}") from e
        return str(rendered)

    # ---- generation
    def sampling_params(
        self, kwargs: dict[str, Any], max_tokens: int, fmt: str | dict[str, Any] | None
    ) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        # Compact JSON (no free whitespace): a weak model cannot spend its
        # whole token budget on spaces and newlines inside the object.
        structured = None
        if fmt == "json":
            structured = StructuredOutputsParams(json_object=True, disable_any_whitespace=True)
        elif isinstance(fmt, dict) and fmt:
            structured = StructuredOutputsParams(json=fmt, disable_any_whitespace=True)
        elif fmt not in (None, ""):
            raise EngineBadRequest('invalid format: expected "json" or a JSON schema')
        try:
            params = SamplingParams(
                **kwargs,
                max_tokens=max_tokens,
                output_kind=RequestOutputKind.DELTA,
                structured_outputs=structured,
            )
        except (ValueError, TypeError) as e:
            raise EngineBadRequest(str(e)) from e
        if isinstance(fmt, dict):
            _check_schema(fmt)
        return params

    def parse_tool_calls(
        self, parser: str, text: str, tools: list[dict[str, Any]]
    ) -> tuple[str | None, list[tuple[str | None, str, str]]]:
        """Tool calls in a finished output, by vLLM's parser `parser`:
        (content left, [(call id, function name, arguments JSON string)])."""
        model_config = getattr(self.llm, "model_config", None)
        return parse_tool_calls(parser, self.tokenizer, text, tools, model_config)

    def tool_call_stream(
        self, parser: str, tools: list[dict[str, Any]], prompt_ids: list[int]
    ) -> ToolCallStream:
        """A streaming tool-call parser for one request's output."""
        model_config = getattr(self.llm, "model_config", None)
        return ToolCallStream(parser, self.tokenizer, tools, prompt_ids, model_config)

    def _reasoning_parser(self, name: str) -> Any:
        parser = self._reasoners.get(name)
        if parser is None:
            from vllm.reasoning import ReasoningParserManager

            parser_cls: Any = ReasoningParserManager.get_reasoning_parser(name)
            parser = self._reasoners[name] = parser_cls(self.tokenizer)
        return parser

    def reasoning_markers(self, name: str) -> tuple[str, str]:
        """The strings vLLM's parser `name` splits at (`<think>`, `</think>`)."""
        parser = self._reasoning_parser(name)
        start = getattr(parser, "reasoning_start_str", None) or getattr(parser, "think_start", "")
        end = getattr(parser, "reasoning_end_str", None) or getattr(parser, "think_end", "")
        return str(start or "<think>"), str(end or "</think>")

    def split_reasoning(self, name: str, text: str) -> tuple[str, str]:
        """(reasoning, content) of a finished output, by vLLM's parser `name`."""
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        request = ChatCompletionRequest.model_validate({"model": "pasture", "messages": []})
        reasoning, content = self._reasoning_parser(name).extract_reasoning(text, request)
        return reasoning or "", content or ""

    def _lora(self, adapter_path: str | None) -> Any:
        if not adapter_path:
            return None
        from vllm.lora.request import LoRARequest

        lora_id = self._lora_ids.setdefault(adapter_path, len(self._lora_ids) + 1)
        return LoRARequest(f"adapter-{lora_id}", lora_id, adapter_path)

    def new_request_id(self, prefix: str) -> str:
        # Unique even when clients reuse X-Request-Id: vLLM keys requests by id.
        return f"{prefix}-{next(self._ids)}"

    async def generate(
        self,
        prompt_ids: list[int],
        params: Any,
        request_id: str,
        adapter_path: str | None = None,
        images: list[Any] | None = None,
    ) -> AsyncIterator[Delta]:
        """Stream Deltas. Closing or cancelling the iterator aborts the request
        in the engine (AsyncLLM.generate aborts on CancelledError/GeneratorExit).

        `images` (PIL images) go with a prompt that holds one placeholder per
        image; vLLM's multimodal processor expands each into the image tokens."""
        prompt: dict[str, Any] = {"prompt_token_ids": prompt_ids}
        if images:
            prompt["multi_modal_data"] = {"image": images}
        self.active.add(request_id)
        try:
            stream = self.llm.generate(
                prompt,
                params,
                request_id,
                lora_request=self._lora(adapter_path),
            )
            # The text streamed and the ids behind it, for the final flush.
            texts: list[str] = []
            out_ids: list[int] = []
            try:
                async for out in stream:
                    completion = out.outputs[0]
                    out_ids.extend(completion.token_ids)
                    if not out.finished:  # the hot path: one per token
                        texts.append(completion.text)
                        yield Delta(completion.text, list(completion.token_ids), False, None)
                        continue
                    text = completion.text
                    # A stop string cuts the text on purpose; otherwise what the
                    # detokenizer still holds (a partial UTF-8 character) is sent.
                    # A stop token (EOS or a stop id) was never detokenized.
                    decoded = out_ids
                    if completion.finish_reason == "stop":
                        decoded = out_ids[:-1]
                    if decoded and not isinstance(completion.stop_reason, str):
                        whole = self.tokenizer.decode(
                            decoded,
                            skip_special_tokens=params.skip_special_tokens,
                            clean_up_tokenization_spaces=False,
                        )
                        text += held_back("".join(texts) + text, str(whole))
                    stats = getattr(out, "metrics", None)
                    yield Delta(
                        text=text,
                        token_ids=list(completion.token_ids),
                        finished=True,
                        finish_reason=completion.finish_reason,
                        queued_ts=float(getattr(stats, "queued_ts", 0.0) or 0.0),
                        scheduled_ts=float(getattr(stats, "scheduled_ts", 0.0) or 0.0),
                        first_token_ts=float(getattr(stats, "first_token_ts", 0.0) or 0.0),
                        last_token_ts=float(getattr(stats, "last_token_ts", 0.0) or 0.0),
                        prompt_tokens=len(out.prompt_token_ids or ()),
                    )
            except _client_errors() as e:
                raise EngineBadRequest(str(e)) from e
            except Exception as e:
                # vLLM wraps what its multimodal processor raises for images that
                # do not match the prompt's placeholders (an AssertionError or
                # RuntimeError) in EngineGenerateError: the request's fault.
                if images and type(e).__name__ == "EngineGenerateError":
                    raise EngineBadRequest(
                        f"the images do not match the prompt's image placeholders: {e.__cause__}"
                    ) from e
                raise
            finally:
                await stream.aclose()
        finally:
            self.active.discard(request_id)

    async def embed(
        self, prompt_ids: list[int], request_id: str, adapter_path: str | None = None
    ) -> Pooled:
        """Pool one prompt into its embedding (needs an engine with runner=pooling).
        The pooler's own normalisation applies; callers normalise again anyway
        (cheap, and exact for truncated `dimensions`)."""
        from vllm.pooling_params import PoolingParams

        self.active.add(request_id)
        final = None
        try:
            stream = self.llm.encode(
                {"prompt_token_ids": prompt_ids},
                PoolingParams(task="embed"),
                request_id,
                lora_request=self._lora(adapter_path),
            )
            try:
                async for out in stream:
                    final = out
            except _client_errors() as e:
                raise EngineBadRequest(str(e)) from e
            finally:
                await stream.aclose()
        finally:
            self.active.discard(request_id)
        if final is None:
            raise RuntimeError("engine returned no embedding")
        stats = getattr(final, "metrics", None)
        return Pooled(
            vector=[float(v) for v in final.outputs.data.float().tolist()],
            prompt_tokens=len(final.prompt_token_ids or prompt_ids),
            queued_ts=float(getattr(stats, "queued_ts", 0.0) or 0.0),
            scheduled_ts=float(getattr(stats, "scheduled_ts", 0.0) or 0.0),
        )

    async def abort(self, request_ids: list[str]) -> None:
        if request_ids:
            await self.llm.abort(request_ids)

    async def abort_all(self) -> None:
        await self.abort(sorted(self.active))

    def num_unfinished(self) -> int:
        """Requests the engine front-end still tracks (running + waiting)."""
        return int(self.llm.output_processor.get_num_unfinished_requests())

    # ---- health
    @property
    def dead(self) -> bool:
        return bool(self.llm.errored)

    async def check_health(self) -> bool:
        try:
            await asyncio.wait_for(self.llm.check_health(), timeout=5)
        except Exception:
            return False
        return True

    def close(self) -> None:
        if self.owns:
            self.llm.shutdown()
