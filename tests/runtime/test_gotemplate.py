"""Pure tests of the Go-template renderer and its wiring helpers: which
language a template is in, what is refused (and named), Ollama's Values from
Pasture's template messages, bounds on a client's template."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pasture_runtime.errors import OllamaError
from pasture_runtime.translate import prompt as tpl
from pasture_runtime.translate.gotemplate import TemplateError, Unsupported, Values, parse

OLLAMA_GO = [
    "{{ .Prompt }}",
    "{{- range .Messages }}{{ .Content }}{{ end }}",
    "{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}",
    "{{/* a comment */}}{{ $.Tools }}",
    "{{ json .Tools }}",
    "plain text, no actions",
]
JINJA = [
    "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    "{{ bos_token }}{{ messages[0]['content'] }}",
    "{# c #}{{ messages }}",
    "{{ range(3) | list }}",
]


@pytest.mark.parametrize("template", OLLAMA_GO)
def test_go_syntax_is_told_from_jinja(template: str) -> None:
    assert tpl.is_go_template(template)
    assert not tpl.is_jinja(template)


@pytest.mark.parametrize("template", JINJA)
def test_jinja_stays_jinja(template: str) -> None:
    assert tpl.is_jinja(template)
    assert tpl.go_template(template) is None


@pytest.mark.parametrize(
    ("template", "construct"),
    [
        ('{{ define "x" }}a{{ end }}', "{{define}}"),
        ('{{ template "x" . }}', "{{template}}"),
        ('{{ block "x" . }}a{{ end }}', "{{block}}"),
        ("{{ html .Prompt }}", "the html function"),
        ("{{ call .Prompt }}", "the call function"),
        ("{{ urlquery .Prompt }}", "the urlquery function"),
        ("{{ .Prompt }}{{ 1i }}", "complex constant 1i"),
    ],
)
def test_what_pasture_does_not_render_is_a_400_naming_it(template: str, construct: str) -> None:
    with pytest.raises(Unsupported) as e:
        parse(template)
    assert e.value.construct == construct
    with pytest.raises(OllamaError) as err:
        tpl.go_template(template)
    assert err.value.status == 400
    assert construct in err.value.message


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ .Prompt ", "unclosed action"),
        ("{{ nope .Prompt }}", 'function "nope" not defined'),
        ("{{ $x }}", 'undefined variable "$x"'),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ if .Prompt }}", "unexpected EOF"),
        ("{{ break }}", "outside {{range}}"),
        ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "nested too deeply"),
    ],
)
def test_what_go_refuses_is_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        parse(template)


def test_vars_decide_the_path_and_the_capabilities() -> None:
    assert parse("{{ .Prompt }}").vars == {"prompt"}
    assert tpl.supports_tools("{{ range .Messages }}{{ end }}{{ if $.Tools }}{{ end }}")
    assert not tpl.supports_tools("{{ range .Messages }}{{ .Content }}{{ end }}")
    assert tpl.supports_suffix("{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}{{ end }}")
    assert not tpl.supports_suffix("{{ .Prompt }}")
    assert not tpl.supports_tools("{{ if .Tools }}unclosed")  # listed, never a 400 there


def test_chat_messages_reach_the_template_in_ollamas_shape() -> None:
    go = tpl.go_template(
        "{{ range .Messages }}{{ .Role }}:{{ .Content }}|{{ .Thinking }}|{{ .ToolName }}|"
        "{{ .ToolCallID }}|{{ range .ToolCalls }}{{ .ID }} {{ .Function.Index }} "
        "{{ .Function.Name }}"
        "{{ .Function.Arguments }}{{ end }}\n{{ end }}{{ .ThinkLevel }} {{ json $.Tools }}"
    )
    assert go is not None
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "hmm",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "c1",
                    "index": 2,
                    "function": {"name": "f", "arguments": {"x": 1}},
                }
            ],
        },
        {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "c1"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert tpl.render_go_chat(go, messages, tools, True) == (
        'user:ab||||\nassistant:|hmm|||c1 2 f{"x":1}\ntool:42||f|c1|\n'
        'medium [{"type":"function","function":{"name":"f","description":"",'
        '"parameters":{"type":"object","properties":null}}}]'
    )


@pytest.mark.parametrize(
    ("think", "rendered"),
    [(None, "false  false"), (False, "false  true"), (True, "true medium true"),
     ("high", "true high true"), ("max", "true max true")],
)  # fmt: skip
def test_think_reaches_the_template_as_ollama_sets_it(think: object, rendered: str) -> None:
    go = tpl.go_template(
        "{{ range .Messages }}{{ end }}{{ .Think }} {{ .ThinkLevel }} {{ .IsThinkSet }}"
    )
    assert go is not None
    assert tpl.render_go_chat(go, [], None, think) == rendered


def test_generate_takes_prompt_and_suffix_alone_for_fill_in_the_middle() -> None:
    go = tpl.go_template(
        "{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>{{ else }}{{ .Prompt }}{{ end }}"
    )
    assert go is not None
    user = [{"role": "user", "content": "p"}]
    assert tpl.render_go_generate(go, user, "p", "s", None) == "<PRE>p<SUF>s<MID>"
    assert tpl.render_go_generate(go, user, "p", None, None) == "p"


@pytest.mark.parametrize(
    "bomb",
    [
        "{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}",
        '{{ $s := "ab" }}{{ range 64 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ $s }}',
        "{{ range 10000000 }}x{{ end }}",
    ],
)
def test_a_clients_template_bomb_is_a_400(bomb: str) -> None:
    go = tpl.go_template(bomb)
    assert go is not None
    with pytest.raises(OllamaError) as e:
        tpl.render_go_generate(go, [{"role": "user", "content": "x"}], "x", None, None)
    assert e.value.status == 400


def test_execution_errors_are_a_400() -> None:
    go = tpl.go_template("{{ range .Messages }}{{ .Nope }}{{ end }}")
    assert go is not None
    with pytest.raises(OllamaError) as e:
        tpl.render_go_chat(go, [{"role": "user", "content": "x"}], None, None)
    assert e.value.status == 400
    assert "can't evaluate field Nope" in e.value.message


def test_values_default_to_an_empty_conversation() -> None:
    assert parse("{{ .Prompt }}|{{ .System }}").execute(Values()) == "|"


_PIECES = [
    "{{", "}}", "{{-", "-}}", " ", ".", "$", "$x", ":=", "=", "|", "(", ")", ",", '"s"', "`r`",
    "'c'", "1", "1.5", "-2", "if", "else", "end", "range", "with", "break", "continue", "nil",
    "true", ".Messages", ".Role", ".Content", ".Tools", ".Prompt", ".System", "$.Messages",
    "len", "index", "slice", "printf", "json", "eq", "and", "not", "/*", "*/", "text\n",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_any_template_renders_or_is_a_template_error(source: str) -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    with contextlib.suppress(TemplateError):
        parse(source).execute(Values(messages=messages, tools=[{"type": "function"}]))
