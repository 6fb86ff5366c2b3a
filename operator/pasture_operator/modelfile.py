"""Parser for Ollama Modelfiles (the raw `spec.modelfile` string).

Supports FROM, PARAMETER, SYSTEM, TEMPLATE, ADAPTER, LICENSE and MESSAGE, with
values either on one line or in triple quotes spanning lines, as Ollama does.
Errors carry the 1-based line number so the status can point at it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Every parameter Ollama's Modelfile takes, and the type each value is parsed
# into; `stop` repeats. Ollama's api.Options (with its Runner), the parameters
# its parser still takes with a deprecation warning (parser.go
# deprecatedParameters), and older ones the runtime also type-checks.
PARAMETER_TYPES: dict[str, type] = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "min_p": float,
    "typical_p": float,
    "num_ctx": int,
    "num_predict": int,
    "num_keep": int,
    "repeat_penalty": float,
    "repeat_last_n": int,
    "presence_penalty": float,
    "frequency_penalty": float,
    "seed": int,
    "stop": str,
    "num_batch": int,
    "num_gpu": int,
    "main_gpu": int,
    "num_thread": int,
    "num_gqa": int,
    "use_mmap": bool,
    "use_mlock": bool,
    "numa": bool,
    "low_vram": bool,
    "f16_kv": bool,
    "logits_all": bool,
    "vocab_only": bool,
    "penalize_newline": bool,
    "embedding_only": bool,
    "mirostat": int,
    "mirostat_tau": float,
    "mirostat_eta": float,
    "tfs_z": float,
}
# Those the runtime honours (translate/options.py plan_sampling); the rest have
# no vLLM equivalent (llama.cpp's threads, GPU layers, memory mapping, its
# samplers) and are accepted, kept in /api/show, and reported as ignored.
SERVED_PARAMETERS = frozenset(
    {
        "temperature", "top_p", "top_k", "min_p", "num_ctx", "num_predict", "repeat_penalty",
        "presence_penalty", "frequency_penalty", "seed", "stop",
    }
)  # fmt: skip
_ROLES = {"system", "user", "assistant"}
_COMMANDS = {"FROM", "PARAMETER", "SYSTEM", "TEMPLATE", "ADAPTER", "LICENSE", "MESSAGE"}


class ModelfileError(ValueError):
    """A Modelfile that cannot be parsed; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass
class Modelfile:
    from_: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    template: str | None = None
    adapters: list[str] = field(default_factory=list)
    license: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)


def _read_value(lines: list[str], index: int, rest: str) -> tuple[str, int]:
    """The value starting at `rest`; triple quotes may span lines. Returns (value, next index)."""
    stripped = rest.strip()
    if stripped.startswith('"""'):
        body = stripped[3:]
        if '"""' in body:
            return body[: body.index('"""')], index + 1
        parts = [body]
        for j in range(index + 1, len(lines)):
            if '"""' in lines[j]:
                parts.append(lines[j][: lines[j].index('"""')])
                return "\n".join(parts), j + 1
            parts.append(lines[j])
        raise ModelfileError(index + 1, 'unterminated """ string')
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        try:
            return str(json.loads(stripped)), index + 1
        except json.JSONDecodeError:
            return stripped[1:-1], index + 1
    return stripped, index + 1


def _parameter(line_no: int, value: str, out: dict[str, Any]) -> None:
    key, _, raw = value.partition(" ")
    key = key.strip().lower()
    raw = raw.strip()
    if not key or not raw:
        raise ModelfileError(line_no, "PARAMETER needs a name and a value")
    kind = PARAMETER_TYPES.get(key)
    if kind is None:
        raise ModelfileError(line_no, f"unknown parameter {key!r}")
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        raw = raw[1:-1]
    try:
        parsed: Any = _bool(raw) if kind is bool else kind(raw)
    except ValueError:
        raise ModelfileError(line_no, f"{key} needs a {kind.__name__}, got {raw!r}") from None
    if key == "stop":
        out.setdefault("stop", []).append(parsed)
    else:
        out[key] = parsed


def _bool(raw: str) -> bool:
    """Go's strconv.ParseBool, as Ollama reads a boolean PARAMETER."""
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(raw)


def ignored_parameters(parameters: Mapping[str, Any]) -> tuple[str, ...]:
    """The parameters set that the engine cannot honour, sorted."""
    return tuple(sorted(k for k in parameters if k not in SERVED_PARAMETERS))


def parse(text: str) -> Modelfile:
    """Parse a Modelfile; raises ModelfileError naming the offending line."""
    mf = Modelfile()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line_no = i + 1
        line = lines[i].strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        command = line.partition(" ")[0]
        command = command.upper()
        if command not in _COMMANDS:
            raise ModelfileError(line_no, f"unknown instruction {command!r}")
        # Re-read from the raw line so triple-quoted values keep their spacing.
        raw_rest = lines[i].lstrip()[len(command) :]
        value, i = _read_value(lines, i, raw_rest)
        if command != "PARAMETER" and command != "MESSAGE" and not value.strip():
            raise ModelfileError(line_no, f"{command} needs a value")
        _apply(mf, command, value, line_no)
    if mf.from_ is None:
        raise ModelfileError(max(len(lines), 1), "no FROM instruction")
    return mf


def _apply(mf: Modelfile, command: str, value: str, line_no: int) -> None:
    """One instruction's value into `mf`."""
    if command == "FROM":
        if mf.from_ is not None:
            raise ModelfileError(line_no, "FROM given twice")
        mf.from_ = value.strip()
    elif command == "PARAMETER":
        _parameter(line_no, value, mf.parameters)
    elif command == "SYSTEM":
        mf.system = value
    elif command == "TEMPLATE":
        mf.template = value
    elif command == "ADAPTER":
        mf.adapters.append(value.strip())
    elif command == "LICENSE":
        mf.license = value
    else:
        mf.messages.append(_message(line_no, value))


def _message(line_no: int, value: str) -> dict[str, str]:
    """MESSAGE's `role content`."""
    role, _, content = value.partition(" ")
    if role.lower() not in _ROLES:
        raise ModelfileError(
            line_no, f"MESSAGE role must be one of system, user, assistant, got {role!r}"
        )
    content, _ = _read_value([content], 0, content)
    return {"role": role.lower(), "content": content}


def source_from(reference: str) -> dict[str, Any]:
    """Map a FROM reference onto a Model `source` (same shape as spec.source)."""
    ref = reference.strip()
    if ref.startswith(("http://", "https://")):
        for prefix in ("https://huggingface.co/", "https://hf.co/"):
            if ref.startswith(prefix):
                return {"huggingFace": {"repo": ref[len(prefix) :].strip("/"), "revision": "main"}}
        return {"url": {"url": ref}}
    for prefix in ("hf.co/", "huggingface.co/"):
        if ref.startswith(prefix):
            repo, _, revision = ref[len(prefix) :].partition(":")
            return {"huggingFace": {"repo": repo, "revision": revision or "main"}}
    if ref.startswith("pvc://"):
        claim, _, path = ref[len("pvc://") :].partition("/")
        return {"pvc": {"claimName": claim, "path": path}}
    if "/" in ref:
        repo, _, revision = ref.partition(":")
        return {"huggingFace": {"repo": repo, "revision": revision or "main"}}
    return {"library": ref}
