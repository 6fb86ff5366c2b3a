"""Write a tiny, real Llama-architecture model into a directory.

The model is what every engine test serves: a byte-level BPE tokenizer with a
chat template, and a 2-layer Llama with random bf16 weights. Its text is
gibberish; tests assert protocol, counts, shapes and determinism, not meaning.

Everything is made here, with no hub access, and deterministically: the same
script version writes the same bytes (the BPE merges are learned by the small
loop below with explicit tie-breaking, and the weights come from a seeded
generator, not from a library's initialiser that may change between releases).

Sizes respect vLLM's CPU attention: head_dim = 128 / 2 = 64.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SCRIPT_VERSION = "2"
VOCAB_SIZE = 512
SEED = 20261124

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]

# A chat template in the shape real models ship: system, user, assistant and
# tool turns, tools listed in the system turn, images as placeholders.
CHAT_TEMPLATE = (
    # Newlines are written as expressions: transformers renders chat templates
    # with trim_blocks, which eats a newline written right after a tag.
    "{%- if tools %}{{ '<|system|>\\nYou can call these tools:' }}"
    "{%- for tool in tools %}{{ '\\n' + (tool | tojson) }}{%- endfor %}"
    "{{ '</s>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['content'] is string %}{%- set content = message['content'] %}"
    "{%- else %}{%- set content = message['content'] | map(attribute='text')"
    " | select('string') | join('') %}{%- endif %}"
    "{{ '<|' + message['role'] + '|>\\n' + content }}"
    "{%- for call in message.get('tool_calls') or [] %}"
    "{{ '\\n' + (call['function'] | tojson) }}{%- endfor %}"
    "{{ '</s>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{%- endif %}"
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Pasture serves language models on Kubernetes with the Ollama API.",
    "Why is the sky blue? Because air scatters blue light more than red light.",
    "Cows graze in the pasture while the farmer counts them one by one.",
    "A model deployment runs replicas of the runtime on nodes with GPUs.",
    "Hello, how are you today? I am fine, thank you for asking.",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    "def add(a, b):\n    return a + b\n",
    "Write a haiku about llamas: soft wool in the wind, quiet steps on mountain grass.",
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (ByteLevel BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def learn_bpe(corpus: list[str], vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn BPE merges with deterministic tie-breaking (count, then pair)."""
    byte_map = bytes_to_unicode()
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(byte_map.values()):
        vocab[ch] = len(vocab)
    words: Counter[tuple[str, ...]] = Counter()
    for line in corpus:
        for i, word in enumerate(line.split(" ")):
            text = (" " if i else "") + word
            words[tuple(byte_map[b] for b in text.encode())] += 1
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words.items():
            for a, b in itertools.pairwise(symbols):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        vocab[best[0] + best[1]] = len(vocab)
        merged: Counter[tuple[str, ...]] = Counter()
        for symbols, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return vocab, merges


def write_tokenizer(out: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merges = learn_bpe(CORPUS, VOCAB_SIZE)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )
    fast.save_pretrained(str(out))
    return len(vocab)


# The text model's shape; hack/tiny_vision_model.py reuses it as the language
# model of the image + text model.
TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 2048,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 2,
    "tie_word_embeddings": False,
}


def seed_weights(model: Any) -> None:
    """Norm scales 1, everything else N(0, 0.02) from the seeded generator, in
    parameter-name order: the same bytes on every run and library release."""
    import torch

    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if "norm" in name and name.endswith(".weight"):
                param.fill_(1.0)  # RMSNorm / LayerNorm scales
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)


def write_model(out: Path, vocab_size: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    # `torch_dtype` (the older name) is what config.json has always recorded.
    config = LlamaConfig(vocab_size=vocab_size, **TEXT_CONFIG, torch_dtype="bfloat16")  # type: ignore[call-arg]
    model = LlamaForCausalLM(config)  # type: ignore[no-untyped-call]
    seed_weights(model)
    model = model.to(torch.bfloat16)  # type: ignore[arg-type]  # transformers' stub of .to
    model.save_pretrained(str(out), safe_serialization=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: hack/tiny-model DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    vocab_size = write_tokenizer(out)
    write_model(out, vocab_size)
    (out / "pasture-tiny-model.json").write_text(
        json.dumps({"script_version": SCRIPT_VERSION, "vocab_size": vocab_size}) + "\n"
    )
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
