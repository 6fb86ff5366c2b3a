"""The sandbox process that renders request-supplied Jinja templates: bombs
are refused within the time bound without the caller's memory growing, and
ordinary chat templates render as transformers renders them."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator

import pytest

from pasture_runtime.template_sandbox import Sandbox, TemplateRefused

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]

CHATML = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# Each of these would stall or exhaust the server if rendered in it.
BOMBS = {
    "string-multiplication": "{% set x = 'a' * 10**10 %}{{ x }}{{ messages }}",
    "power": "{{ 10 ** (10 ** 10) }}{% if messages %}{% endif %}",
    "nested-ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
    ),
    "output-flood": (
        "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxx{% endfor %}{% endfor %}"
    ),
    "escape": "{{ messages.__class__.__mro__[1].__subclasses__() }}",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(seconds=2.0, memory_bytes=512 << 20, max_chars=1 << 20)
    yield box
    box.close()


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_chat_template_renders_like_transformers(sandbox: Sandbox) -> None:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    context = {"messages": MESSAGES, "add_generation_prompt": True, "bos_token": "<s>"}
    expected = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
        CHATML
    )
    assert sandbox.render(CHATML, context) == expected.render(**context)
    tojson = "{{ messages | tojson }}{{ raise_exception('no') if not messages }}"
    assert sandbox.render(tojson, context).startswith('[{"role": "system"')
    with pytest.raises(TemplateRefused, match="no tools"):
        sandbox.render("{{ raise_exception('no tools') }}", context)
    with pytest.raises(TemplateRefused, match="TemplateSyntaxError"):
        sandbox.render("{% for %}", context)


@pytest.mark.parametrize("name", list(BOMBS))
def test_template_bombs_are_refused_in_bounded_time_and_memory(sandbox: Sandbox, name: str) -> None:
    sandbox.render("{{ messages | length }}", {"messages": MESSAGES})  # warm
    before = _max_rss_mb()
    started = time.monotonic()
    with pytest.raises(TemplateRefused) as refused:
        sandbox.render(BOMBS[name], {"messages": MESSAGES})
    took = time.monotonic() - started
    assert took < sandbox.seconds + 5, took
    assert _max_rss_mb() - before < 200  # the caller's memory did not move
    assert str(refused.value)
    # The sandbox keeps working after a bomb (a new worker if it was killed).
    assert sandbox.render("{{ messages | length }}", {"messages": MESSAGES}) == "2"
