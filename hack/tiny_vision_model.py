"""Write a tiny, real multimodal (image + text) model into a directory.

The vision tests serve it: an Idefics3 model (the SmolVLM family), i.e. a
SigLIP-style vision encoder whose patches are pixel-shuffled into the tiny
Llama text model, with the HF processor (image processor + tokenizer + chat
template that renders image content parts). Random weights: its text is
gibberish; tests assert protocol, token counts and determinism.

Why Idefics3 and not LLaVA: vLLM 0.32's llava module imports its Pixtral code,
which imports transformers' torchvision image processor, and the CPU dev
environment has no torchvision (it breaks transformers there). Idefics3's
processor has a PIL backend that transformers picks when torchvision is missing.

Made here, with no hub access, and deterministically: the tokenizer is the
text model's (hack/tiny_model.py, same BPE) plus the image special tokens, and
the weights come from a seeded generator.

Sizes: text as the tiny Llama (head_dim 64, which vLLM's CPU attention
supports); vision hidden 64, 2 layers, 2 heads; images are resized to 112 px
(one tile, no splitting), 14 px patches -> 8 x 8 = 64 patches, pixel-shuffled
by 2 -> 16 image tokens, wrapped as
`<fake_token_around_image><global-img>` + 16 x `<image>` + `<fake_token_around_image>`:
19 prompt tokens per image in place of the one `<image>` placeholder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tiny_model

SCRIPT_VERSION = "1"
IMAGE_SIZE = 112
PATCH_SIZE = 14
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2  # 16

# Idefics3Processor looks these up by name (`<global-img>` too, so it is one token).
IMAGE_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]

# The text model's turns, and content given as parts (`{"type": "image"}`,
# `{"type": "text", "text": ...}`) the way HF multimodal templates take them;
# a plain string content still renders as text.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{%- if message['content'] is string %}{{ message['content'] }}"
    "{%- else %}{%- for part in message['content'] %}"
    "{%- if part['type'] == 'image' %}{{ '<image>\\n' }}"
    "{%- elif part['type'] == 'text' %}{{ part['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{ '</s>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{%- endif %}"
)


def make_tokenizer() -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merges = tiny_model.learn_bpe(tiny_model.CORPUS, tiny_model.VOCAB_SIZE)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(tiny_model.SPECIAL_TOKENS + IMAGE_TOKENS)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )


def write_processor(out: Path) -> tuple[int, int]:
    """Save the processor (image processor, tokenizer, chat template);
    return (vocab size, `<image>` token id)."""
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tokenizer: object = make_tokenizer()
    # One tile per image at the encoder's size: few, fixed image tokens.
    images = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE},
    )
    processor = Idefics3Processor(
        image_processor=images,
        tokenizer=tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(str(out))
    fast = processor.tokenizer
    return len(fast), int(fast.convert_tokens_to_ids("<image>"))


def write_model(out: Path, vocab_size: int, image_token_id: int) -> None:
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, LlamaConfig
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig

    text = LlamaConfig(vocab_size=vocab_size, **tiny_model.TEXT_CONFIG)
    vision = Idefics3VisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
    )
    config = Idefics3Config(
        vision_config=vision,
        text_config=text,
        image_token_id=image_token_id,
        scale_factor=SCALE_FACTOR,
        pad_token_id=2,
        tie_word_embeddings=False,
        torch_dtype="bfloat16",  # type: ignore[call-arg]  # as in tiny_model.write_model
    )
    model = Idefics3ForConditionalGeneration(config)  # type: ignore[no-untyped-call]
    tiny_model.seed_weights(model)
    model = model.to(torch.bfloat16)  # type: ignore[arg-type]  # transformers' stub of .to
    model.save_pretrained(str(out), safe_serialization=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: hack/tiny-model --vision DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    vocab_size, image_token_id = write_processor(out)
    write_model(out, vocab_size, image_token_id)
    (out / "pasture-tiny-model.json").write_text(
        json.dumps(
            {
                "kind": "vision",
                "script_version": SCRIPT_VERSION,
                "vocab_size": vocab_size,
                "image_tokens": IMAGE_SEQ_LEN + 3,
            }
        )
        + "\n"
    )
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
