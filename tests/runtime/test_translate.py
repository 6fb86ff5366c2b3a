"""Unit tests of the pure layers: options, keep_alive, templates, names,
response shapes, NDJSON, config, admission. No engine needed."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pasture_runtime.admission import Admission
from pasture_runtime.config import ModelEntry, load_config
from pasture_runtime.encoders import ndjson_line
from pasture_runtime.errors import BUSY, OllamaError
from pasture_runtime.names import ModelRegistry, normalize
from pasture_runtime.translate import options as opt
from pasture_runtime.translate.keep_alive import is_unload, keep_alive_seconds
from pasture_runtime.translate.prompt import go_template, render_go_generate
from pasture_runtime.translate.responses import Timings, created_at, final_metrics


def test_ollama_defaults_when_options_omitted() -> None:
    plan = opt.plan_sampling(opt.effective_options({}, None), engine_max_len=2048)
    assert plan.kwargs == {
        "temperature": 0.8,
        "top_k": 40,
        "top_p": 0.9,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "stop": None,
    }
    assert plan.num_predict is None
    assert plan.context_length == 2048


def test_options_map_to_vllm_names() -> None:
    raw = {
        "temperature": 0,
        "top_p": 0.5,
        "top_k": 7,
        "min_p": 0.05,
        "repeat_penalty": 1.3,
        "presence_penalty": 0.4,
        "frequency_penalty": 0.2,
        "seed": 9,
        "stop": "END",
        "num_predict": 5,
        "num_ctx": 100,
        "typical_p": 0.7,
    }
    plan = opt.plan_sampling(opt.effective_options({}, raw), engine_max_len=2048)
    assert plan.kwargs == {
        "temperature": 0.0,
        "top_p": 0.5,
        "top_k": 7,
        "min_p": 0.05,
        "repetition_penalty": 1.3,
        "presence_penalty": 0.4,
        "frequency_penalty": 0.2,
        "seed": 9,
        "stop": ["END"],
    }
    assert (plan.num_predict, plan.context_length) == (5, 100)


def test_model_parameters_sit_between_defaults_and_request() -> None:
    merged = opt.effective_options({"temperature": 0.1, "top_k": 3}, {"top_k": 5})
    assert (merged["temperature"], merged["top_k"], merged["top_p"]) == (0.1, 5, 0.9)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": "hot"}, 'option "temperature" must be of type float32'),
        ({"top_k": True}, 'option "top_k" must be of type integer'),
        ({"use_mmap": 1}, 'option "use_mmap" must be of type boolean'),
        ({"stop": 3}, 'option "stop" must be of type array'),
        ({"stop": ["a", 1]}, 'option "stop" must be of an array of strings'),
    ],
)
def test_wrong_option_types_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OllamaError) as e:
        opt.validate_options(options)
    assert (e.value.status, e.value.message) == (400, message)


def test_unknown_and_null_options_are_ignored_and_ints_truncate() -> None:
    assert opt.validate_options({"bogus": 1, "temperature": None, "num_predict": 5.9}) == {
        "num_predict": 5
    }


def test_out_of_range_values_are_made_safe() -> None:
    plan = opt.plan_sampling(
        opt.effective_options(
            {},
            {
                "top_k": 0,
                "top_p": 0,
                "repeat_penalty": 0,
                "seed": -1,
                "temperature": -1,
                "presence_penalty": 9,
            },
        ),
        2048,
    )
    assert plan.kwargs["top_k"] == 0
    assert plan.kwargs["top_p"] == 1.0
    assert plan.kwargs["repetition_penalty"] == 1.0
    assert "seed" not in plan.kwargs
    assert plan.kwargs["temperature"] == 0.0
    assert plan.kwargs["presence_penalty"] == 2.0


@pytest.mark.parametrize("num_predict", [-1, -2, 0])
def test_num_predict_without_cap_fills_the_context(num_predict: int) -> None:
    plan = opt.plan_sampling(opt.effective_options({}, {"num_predict": num_predict}), 100)
    assert opt.fit_prompt([1] * 30, plan, True) == ([1] * 30, 70)


def test_num_ctx_is_capped_by_the_engine_and_prompts_truncate_from_the_front() -> None:
    plan = opt.plan_sampling(opt.effective_options({}, {"num_ctx": 10_000}), 100)
    assert plan.context_length == 100
    plan = opt.plan_sampling(opt.effective_options({}, {"num_ctx": 10, "num_predict": 4}), 100)
    ids, max_tokens = opt.fit_prompt(list(range(25)), plan, truncate=True)
    # Cut from the front, leaving num_predict's room for the reply (not one token).
    assert ids == list(range(19, 25))
    assert max_tokens == 4
    with pytest.raises(OllamaError) as e:
        opt.fit_prompt(list(range(25)), plan, truncate=False)
    assert e.value.status == 400


def test_parameter_lines_match_show_format() -> None:
    text = opt.parameter_lines({"stop": ["<a>", "<b>"], "temperature": 0.5})
    assert text.splitlines() == [
        f'{"stop":<30} "<a>"',
        f'{"stop":<30} "<b>"',
        f"{'temperature':<30} 0.5",
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        (0, 0.0),
        ("0", 0.0),
        ("0s", 0.0),
        (300, 300.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("-1", -1.0),
        ("-1m", -60.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
    ],
)
def test_keep_alive_numbers_and_go_durations(value: Any, seconds: float | None) -> None:
    assert keep_alive_seconds(value) == seconds


def test_keep_alive_zero_unloads_and_garbage_is_400() -> None:
    assert is_unload(0)
    assert is_unload("0m")
    assert not is_unload("5m")
    assert not is_unload(None)
    with pytest.raises(OllamaError) as e:
        keep_alive_seconds("five minutes")
    assert e.value.status == 400
    assert "invalid duration" in e.value.message


def test_go_template_request_template() -> None:
    tpl = "{{ if .System }}<s>{{ .System }}</s>\n{{ end }}<u>{{ .Prompt }}</u>"
    system = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    go = go_template(tpl)
    assert go is not None
    assert render_go_generate(go, system, "hi", None, None) == "<s>be brief</s>\n<u>hi</u>"
    assert render_go_generate(go, system[1:], "hi", None, None) == "<u>hi</u>"
    trim = go_template("a {{- .Prompt -}} b")
    assert trim is not None
    assert render_go_generate(trim, [{"role": "user", "content": "X"}], "X", None, None) == "aXb"
    with pytest.raises(OllamaError) as e:
        go_template("{{ if .System }}x")
    assert e.value.status == 400
    assert "unexpected EOF" in e.value.message


def test_names_normalise_and_resolve_aliases() -> None:
    assert normalize("Llama3.2") == "llama3.2:latest"
    assert normalize("registry.ollama.ai/library/llama3.2:1B") == "llama3.2:1b"
    assert normalize("host:5000/ns/model") == "host:5000/ns/model:latest"
    reg = ModelRegistry([ModelEntry(name="tiny", aliases=["small:v1"])])
    assert reg.lookup("TINY:latest") is reg.lookup("small:V1") is reg.primary
    assert reg.lookup("small") is None
    assert reg.lookup("") is None
    assert reg.listed_names() == ["tiny:latest", "small:v1"]


def test_created_at_is_rfc3339_nanoseconds() -> None:
    assert created_at(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", created_at())


def test_final_metrics_use_engine_timestamps_in_nanoseconds() -> None:
    t = Timings(
        received_ns=0,
        finished_ns=2_000_000_000,
        queued_ts=10.0,
        scheduled_ts=10.5,
        first_token_ts=10.75,
        last_token_ts=11.75,
        prompt_tokens=7,
        output_tokens=5,
    )
    assert final_metrics(t) == {
        "total_duration": 2_000_000_000,
        "load_duration": 500_000_000,
        "prompt_eval_count": 7,
        "prompt_eval_duration": 250_000_000,
        "eval_count": 5,
        "eval_duration": 1_000_000_000,
    }


def test_ndjson_lines_are_compact_utf8_single_lines() -> None:
    line = ndjson_line({"response": "é\nx", "done": False})
    assert line == '{"response":"é\\nx","done":false}\n'.encode()
    assert json.loads(line) == {"response": "é\nx", "done": False}


def test_config_file_env_and_flags_precedence(tmp_path: Path) -> None:
    f = tmp_path / "runtime.yaml"
    f.write_text(
        "engine: {model: /models/tiny, max_model_len: 1024}\n"
        "models: [{name: 'tiny:latest', aliases: [t], parameters: {temperature: 0.1}}]\n"
        "server: {port: 9000}\n"
    )
    env = {
        "PASTURE_MAX_MODEL_LEN": "512",
        "PASTURE_MAX_WAITING": "7",
        "PASTURE_HOST": "1.2.3.4",
        "PASTURE_SERVER__DRAIN_TIMEOUT_SECONDS": "5",
    }
    cfg = load_config(f, {"server": {"port": 9100}}, env=env)
    assert cfg.engine.max_model_len == 1024  # file beats env
    assert cfg.server.max_waiting == 7  # env fills gaps
    assert cfg.server.host == "1.2.3.4"
    assert cfg.server.drain_timeout_seconds == 5
    assert cfg.server.port == 9100  # flags beat the file
    assert cfg.models[0].parameters == {"temperature": 0.1}
    assert cfg.server.max_running is None
    assert cfg.engine.runner == "generate"


def test_config_rejects_unknown_keys_and_needs_a_model(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("engine: {model: /m, max_modle_len: 5}\nmodels: [{name: x}]\n")
    with pytest.raises(ValidationError):
        load_config(f, env={})
    with pytest.raises(ValidationError):
        load_config(None, {"models": [{"name": "x"}]}, env={})
    cfg = load_config(None, {"engine": {"model": "/models/Llama-3.2-1B/"}}, env={})
    assert cfg.models[0].name == "llama-3.2-1b:latest"


def test_cli_flags_build_the_config(tmp_path: Path) -> None:
    from pasture_runtime.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        [
            "serve",
            "--model",
            "/m",
            "--name",
            "tiny",
            "--alias",
            "t2",
            "--port",
            "1234",
            "--max-num-seqs",
            "8",
            "--enforce-eager",
            "true",
            "--max-waiting",
            "3",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.models[0].name, cfg.models[0].aliases) == ("tiny", ["t2"])
    assert (cfg.server.port, cfg.server.max_waiting) == (1234, 3)
    assert cfg.engine.max_num_seqs == 8
    assert cfg.engine.enforce_eager is True


async def test_admission_runs_queues_then_refuses_fifo() -> None:
    adm = Admission(max_running=1, max_waiting=1)
    first, second = adm.enter(), adm.enter()
    assert (adm.running, adm.waiting) == (1, 1)
    with pytest.raises(OllamaError) as e:
        adm.enter()
    assert (e.value.status, e.value.message, e.value.headers) == (503, BUSY, {"Retry-After": "1"})
    waiter = asyncio.create_task(second.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    first.release()
    await asyncio.wait_for(waiter, 1)
    assert (adm.running, adm.waiting) == (1, 0)
    second.release()
    second.release()  # idempotent
    assert adm.in_flight == 0
    assert await adm.wait_idle(0.1)


async def test_admission_cancelled_waiter_leaves_the_queue() -> None:
    adm = Admission(max_running=1, max_waiting=2)
    running, queued = adm.enter(), adm.enter()
    task = asyncio.create_task(queued.wait())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (adm.running, adm.waiting) == (1, 0)
    running.release()
    assert adm.in_flight == 0


def test_stall_detection() -> None:
    adm = Admission(max_running=1, max_waiting=0)
    assert not adm.stalled(0.0)  # idle is not stalled
    adm.running = 1
    adm.last_progress -= 10
    assert adm.stalled(5)
    assert not adm.stalled(60)
