"""A tiny, real PEFT LoRA adapter for the tiny model (hack/tiny_model.py).

Rank 8 on every layer's q_proj and v_proj, in the layout PEFT saves and vLLM
loads (`adapter_config.json` + `adapter_model.safetensors`, tensors named
`base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight`).
Weights come from a seeded generator, so the same call writes the same bytes;
lora_B is non-zero (a freshly initialised PEFT adapter has lora_B = 0 and
changes nothing), so the adapter really changes the model's output."""

from __future__ import annotations

import json
from pathlib import Path

RANK = 8
ALPHA = 16
SEED = 20261125


def write_tiny_adapter(out: Path, base_model: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    config = json.loads((base_model / "config.json").read_text())
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    outs = {"q_proj": heads * head_dim, "v_proj": kv_heads * head_dim}

    gen = torch.Generator().manual_seed(SEED)
    tensors: dict[str, torch.Tensor] = {}
    for layer in range(int(config["num_hidden_layers"])):
        for proj, out_dim in outs.items():
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            a = torch.randn(RANK, hidden, generator=gen) / hidden**0.5
            b = torch.randn(out_dim, RANK, generator=gen)
            tensors[f"{prefix}.lora_A.weight"] = a.to(torch.bfloat16).contiguous()
            tensors[f"{prefix}.lora_B.weight"] = b.to(torch.bfloat16).contiguous()

    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    adapter_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": RANK,
        "lora_alpha": ALPHA,
        "lora_dropout": 0.0,
        "bias": "none",
        "target_modules": sorted(outs),
        "base_model_name_or_path": str(base_model),
        "fan_in_fan_out": False,
        "inference_mode": True,
        "modules_to_save": None,
        "use_dora": False,
        "use_rslora": False,
    }
    (out / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")
    return out
