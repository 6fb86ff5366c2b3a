"""The one layer that talks to vLLM: build the engine from config, tokenize,
render chat templates, generate, abort, health (with engine_build.py, which
builds it from config, tool_parsing.py, which holds vLLM's tool-call parsers,
and vllm_adapters.py, which holds every reach into vLLM's internals). Code
above these modules never sees vLLM types, so engine upgrades touch them only.

We code against AsyncLLM's engine-client methods (generate/abort/check_health),
not vLLM's OpenAI server classes, which change every release."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from . import vllm_adapters as adapters
from .engine_build import build_engine as build_engine  # the engine layer's face
from .engine_build import engine_args as engine_args
from .engine_types import Delta, EngineBadRequest, Pooled, stat, token_logprobs
from .template_sandbox import SANDBOX, TemplateRefused
from .tool_parsing import ToolCallStream, parse_tool_calls
from .translate.detokenize import held_back

log = logging.getLogger(__name__)


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
            try:
                template = adapters.processor_chat_template(self.tokenizer, self.llm.model_config)
            except Exception:  # no processor template: keep the tokenizer's
                log.debug("no processor chat template", exc_info=True)
        return template if isinstance(template, str) else None

    # ---- images
    def content_format(self, template: str) -> str:
        """How `template` takes message content: "openai" (a list of parts,
        `{"type": "image"}` / `{"type": "text", ...}`, as HF multimodal
        templates do) or "string" (text, with the image placeholders in it).
        vLLM's own detection (it reads the template's Jinja AST)."""
        return adapters.detect_content_format(template)

    @functools.cached_property
    def max_images(self) -> int:
        """Images one prompt may carry: 0 unless the model takes images (a
        text-only model, or one whose other modality is audio), else vLLM's
        limit (the model's own maximum and `limit_mm_per_prompt`)."""
        if not self.is_multimodal:
            return 0
        return adapters.max_images(self.llm.model_config)

    @functools.cached_property
    def _model_cls(self) -> Any:
        return adapters.model_class(self.llm.model_config)

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
        return adapters.image_tokens(self.llm.model_config)

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
            adapters.check_schema(fmt)
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
            top = params.logprobs or 0
            try:
                async for out in stream:
                    completion = out.outputs[0]
                    out_ids.extend(completion.token_ids)
                    if not out.finished:  # the hot path: one per token
                        texts.append(completion.text)
                        lps = token_logprobs(completion.logprobs, completion.token_ids, top)
                        yield Delta(
                            completion.text, list(completion.token_ids), False, None, logprobs=lps
                        )
                        continue
                    yield self._final_delta(out, "".join(texts), out_ids, params)
            except adapters.client_errors() as e:
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

    def _final_delta(self, out: Any, streamed: str, out_ids: list[int], params: Any) -> Delta:
        """The last Delta of a request: its text with what the detokenizer
        still held, the engine's timestamps and the prompt as it ran."""
        completion = out.outputs[0]
        text = completion.text
        # A stop string cuts the text on purpose; otherwise what the
        # detokenizer still holds (a partial UTF-8 character) is sent.
        # A stop token (EOS or a stop id) was never detokenized.
        decoded = out_ids[:-1] if completion.finish_reason == "stop" else out_ids
        if decoded and not isinstance(completion.stop_reason, str):
            whole = self.tokenizer.decode(
                decoded,
                skip_special_tokens=params.skip_special_tokens,
                clean_up_tokenization_spaces=False,
            )
            text += held_back(streamed + text, str(whole))
        stats = getattr(out, "metrics", None)
        return Delta(
            text=text,
            token_ids=list(completion.token_ids),
            finished=True,
            finish_reason=completion.finish_reason,
            queued_ts=stat(stats, "queued_ts"),
            scheduled_ts=stat(stats, "scheduled_ts"),
            first_token_ts=stat(stats, "first_token_ts"),
            last_token_ts=stat(stats, "last_token_ts"),
            prompt_tokens=len(out.prompt_token_ids or ()),
            logprobs=token_logprobs(
                completion.logprobs, completion.token_ids, params.logprobs or 0
            ),
        )

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
            except adapters.client_errors() as e:
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
            queued_ts=stat(stats, "queued_ts"),
            scheduled_ts=stat(stats, "scheduled_ts"),
        )

    async def abort(self, request_ids: list[str]) -> None:
        if request_ids:
            await self.llm.abort(request_ids)

    async def abort_all(self) -> None:
        await self.abort(sorted(self.active))

    def num_unfinished(self) -> int:
        """Requests the engine front-end still tracks (running + waiting)."""
        return adapters.num_unfinished_requests(self.llm)

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
