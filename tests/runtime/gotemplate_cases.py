# ruff: noqa: E501  (templates and cases are verbatim text)
"""Template cases rendered by Ollama's own template package
(hack/gotemplate-golden regenerates tests/runtime/gotemplate_golden.json from
this list); test_gotemplate_golden.py renders them with Pasture's renderer."""

from __future__ import annotations

from typing import Any

LLAMA31 = """{{- if or .System .Tools }}<|start_header_id|>system<|end_header_id|>
{{- if .System }}

{{ .System }}
{{- end }}
{{- if .Tools }}

You are a helpful assistant with tool calling capabilities.
{{- end }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>
{{- if and $.Tools $last }}

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.

{{ range $.Tools }}
{{- . }}
{{ end }}
Question: {{ .Content }}<|eot_id|>
{{- else }}

{{ .Content }}<|eot_id|>
{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if .ToolCalls }}

{{ range .ToolCalls }}
{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ .Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"""

QWEN25 = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response id="{{ .ToolCallID }}" name="{{ .ToolName }}">
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""

LEGACY = """{{ if .System }}<|system|>
{{ .System }}</s>
{{ end }}{{ if .Prompt }}<|user|>
{{ .Prompt }}</s>
{{ end }}<|assistant|>
{{ .Response }}</s>
"""

THINK = """{{- range .Messages }}<{{ .Role }}>{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}
{{ end }}think={{ .Think }} level={{ .ThinkLevel }} set={{ .IsThinkSet }}
{{- if and .IsThinkSet (not .Think) }} /no_think{{ end }}"""

FUNCS = """{{- $n := len .Messages }}{{ $n }} {{ printf "%d-%s-%v-%q-%5s|%-4s|" $n "a" true "q\\"x" "r" "l" }}
{{- range $i, $m := .Messages }}[{{ $i }}:{{ $m.Role }}:{{ (index $.Messages $i).Content | len }}]{{ end }}
{{ index .Messages 0 }}
{{ (index .Messages 1).Content }} {{ slice "hello" 1 3 }} {{ len "héllo" }}
{{ and 1 0 "x" }} {{ or 0 "" "y" }} {{ not .Tools }} {{ lt 1 2 }} {{ gt 2.5 1.5 }} {{ le "a" "b" }} {{ ge 3 3 }} {{ ne .System "" }}
{{ print 1 2 "a" "b" 3.5 nil }} {{ println "x" 1 }}{{ 1e6 }} {{ 0.000012 }} {{ 123456.0 }} {{ -0.5 }} {{ 0x1F }} {{ 'a' }}
{{ .Missing }} {{ $.Nope }} {{ if .Missing }}y{{ else }}n{{ end }} {{ with .System }}[{{ . }}]{{ else }}none{{ end }}
{{- /* a comment */ -}}
{{ range 3 }}{{ . }}{{ end }} {{ range $k, $v := .Messages }}{{ if eq $k 1 }}{{ continue }}{{ end }}{{ if gt $k 2 }}{{ break }}{{ end }}{{ $k }}{{ end }}
{{ $x := "a" }}{{ range .Messages }}{{ $x = printf "%s%s" $x .Role }}{{ end }}{{ $x }}
{{ json .Messages }} {{ json "<a&b>" }} {{ json 1.5 }} {{ json .Tools }}"""

TOOLS_JSON = """{{- range .Messages }}{{ end -}}
{{ .Tools }}
{{ json .Tools }}
{{ range .Tools }}{{ .Function.Name }}: {{ .Function.Parameters.Properties }} | {{ .Function.Parameters }} | {{ .Function.Parameters.Required }}
{{ range $name, $p := .Function.Parameters.Properties }}{{ $name }}:{{ $p.Type }}:{{ $p.Description }}:{{ toTypeScriptType $p }}:{{ $p.Enum }}:{{ if not $p.Properties }}{{ $p }}{{ end }};{{ end }}
{{ end }}
{{- range .Messages }}{{ range .ToolCalls }}{{ .ID }} {{ .Function.Index }} {{ .Function.Name }} {{ .Function.Arguments }} {{ .Function.Arguments.city }} {{ .Function.Arguments.n }} {{ json . }}
{{ end }}{{ end }}"""

SUFFIX = """{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>
{{- else }}{{ .Prompt }}
{{- end }} {{ .System }}"""

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the <current> weather & more",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "city": {"type": "string", "description": "The city"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": ["integer", "null"], "description": "How many"},
                "where": {
                    "type": "object",
                    "properties": {"z": {"type": "string"}, "a": {"type": "number"}},
                },
            },
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
}
CALL: dict[str, Any] = {
    "id": "call_1",
    "function": {
        "index": 0,
        "name": "get_weather",
        "arguments": {"n": 3, "city": "Paris", "x": 1.25e7},
    },
}

CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_1"},
    {"role": "user", "content": "And tomorrow?"},
]
SIMPLE: list[dict[str, Any]] = [
    {"role": "system", "content": "S1"},
    {"role": "system", "content": "S2"},
    {"role": "user", "content": "hi"},
    {"role": "user", "content": "there"},
    {"role": "assistant", "content": "hello", "thinking": "hmm"},
    {"role": "user", "content": "bye"},
]
PREFILL: list[dict[str, Any]] = [
    {"role": "user", "content": "Q1"},
    {"role": "assistant", "content": "A1"},
    {"role": "system", "content": "S"},
    {"role": "user", "content": "Q2"},
    {"role": "assistant", "content": "The answer is"},
]


def _case(name: str, template: str, **values: Any) -> dict[str, Any]:
    return {"name": name, "template": template, "values": values}


CASES: list[dict[str, Any]] = [
    _case("llama31-tools", LLAMA31, messages=CHAT, tools=[WEATHER_TOOL, TIME_TOOL]),
    _case("llama31-plain", LLAMA31, messages=SIMPLE),
    _case("qwen25-tools", QWEN25, messages=CHAT, tools=[WEATHER_TOOL]),
    _case("qwen25-prefill", QWEN25, messages=PREFILL),
    _case("legacy-chat", LEGACY, messages=SIMPLE),
    _case("legacy-prefill", LEGACY, messages=PREFILL),
    _case("legacy-prompt-only", "{{ .Prompt }}", messages=PREFILL),
    _case("legacy-system-prompt", "{{ .System }} {{ .Prompt }}", messages=SIMPLE),
    _case(
        "legacy-response-in-if",
        "{{ if .Prompt }}U:{{ .Prompt }}{{ end }} A:{{ .Response }} END",
        messages=PREFILL,
    ),
    _case("think-off", THINK, messages=SIMPLE, is_think_set=True),
    _case("think-high", THINK, messages=SIMPLE, think=True, think_level="high", is_think_set=True),
    _case("think-unset", THINK, messages=SIMPLE),
    _case("funcs", FUNCS, messages=CHAT, tools=[TIME_TOOL]),
    _case("tools-json", TOOLS_JSON, messages=CHAT, tools=[WEATHER_TOOL, TIME_TOOL]),
    _case("tools-none", TOOLS_JSON, messages=SIMPLE),
    _case("suffix", SUFFIX, prompt="def add(", suffix="return x"),
    _case("suffix-messages", SUFFIX, messages=[{"role": "user", "content": "hello"}]),
    _case(
        "trim-and-text",
        'a  {{- .System -}}  b {{- /* c */}} c\n{{ "}}" }}{{`raw\\n`}}',
        messages=SIMPLE,
    ),
    _case(
        "struct-print",
        "{{ range .Messages }}{{ . }}|{{ .ToolCalls }}|{{ .Images }}\n{{ end }}",
        messages=CHAT,
    ),
    _case(
        "no-tools-print",
        "{{ range .Messages }}{{ end }}{{ .Tools }}|{{ json .Tools }}|{{ if .Tools }}y{{ end }}",
        messages=SIMPLE,
    ),
    _case(
        "err-field-of-missing",
        "{{ range .Messages }}{{ end }}{{ .Missing.Field }}",
        messages=SIMPLE,
    ),
    _case("err-bad-field", "{{ range .Messages }}{{ .Nope }}{{ end }}", messages=SIMPLE),
    _case("err-eq-types", "{{ range .Messages }}{{ eq .Role 1 }}{{ end }}", messages=SIMPLE),
    _case("err-undefined-function", "{{ nope .Prompt }}", messages=SIMPLE),
    _case("err-undefined-variable", "{{ $x }}", messages=SIMPLE),
    _case("err-unclosed", "{{ if .Prompt }}x", messages=SIMPLE),
    _case(
        "err-index-range", "{{ range .Messages }}{{ end }}{{ index .Messages 9 }}", messages=SIMPLE
    ),
]

# From Ollama's template_test.go (TestExecuteWithMessages, TestParse).
MISTRAL_MESSAGES = """[INST] {{ if .System }}{{ .System }}

{{ end }}
{{- range .Messages }}
{{- if eq .Role "user" }}{{ .Content }}[/INST] {{ else if eq .Role "assistant" }}{{ .Content }}[INST] {{ end }}
{{- end }}"""
MISTRAL_ASSISTANT = """
{{- range $i, $m := .Messages }}
{{- if eq .Role "user" }}[INST] {{ .Content }}[/INST] {{ else if eq .Role "assistant" }}{{ .Content }}{{ end }}
{{- end }}"""
CHATML_LIKE = """{{- if .Messages }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ else -}}
{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ .Response }}<|im_end|>
{{- end -}}"""
MULTILINE_ROLES = """{{- range .Messages }}
{{- if eq .Role "system" }}SYSTEM:
{{- else if eq .Role "user" }}USER:
{{- else if eq .Role "assistant" }}ASSISTANT:
{{- else if eq .Role "tool" }}TOOL:
{{- end }} {{ .Content }}
{{- end }}"""

CASES += [
    _case("mistral-messages", MISTRAL_MESSAGES, messages=PREFILL[:4]),
    _case(
        "mistral-no-response",
        "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] ",
        messages=PREFILL[2:4],
    ),
    _case("mistral-assistant", MISTRAL_ASSISTANT, messages=PREFILL),
    _case("chatml-like", CHATML_LIKE, messages=SIMPLE),
    _case("multiline-roles", MULTILINE_ROLES, messages=CHAT),
    _case(
        "tool-result",
        '{{ range .Messages }}{{ if eq .Role "tool" }}Tool Result: {{ .ToolName }} {{ .Content }}{{ end }}{{ end }}',
        messages=CHAT,
    ),
    _case(
        "with-tools-block",
        "{{ with .Tools }}{{ . }}{{ end }} {{ .System }} {{ .Prompt }}",
        messages=SIMPLE,
        tools=[TIME_TOOL],
    ),
]
