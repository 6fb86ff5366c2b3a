"""`pasture-runtime serve`: run the Ollama-compatible server on one vLLM engine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn

from .app import create_app
from .config import SHORT_FIELDS, RuntimeConfig, adapter_problems, load_config
from .drain import start_drain
from .fatal import record
from .logs import setup_logging
from .state import Runtime

log = logging.getLogger(__name__)


def _bool(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


# Flag types for the short fields (argparse converts; pydantic re-validates).
_TYPES: dict[str, Any] = {
    "max_model_len": int,
    "gpu_memory_utilization": float,
    "tensor_parallel_size": int,
    "max_num_seqs": int,
    "seed": int,
    "port": int,
    "max_running": int,
    "max_waiting": int,
    "drain_timeout_seconds": float,
    "stall_timeout_seconds": float,
    "liveness_stall_timeout_seconds": float,
    "enforce_eager": _bool,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pasture-runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Ollama API on a vLLM engine")
    serve.add_argument("--config", help="YAML config file (docs/runtime-config.md)")
    serve.add_argument("--name", help="Ollama name of the model (name:tag)")
    serve.add_argument("--alias", action="append", default=[], help="another name (repeatable)")
    for name in SHORT_FIELDS:
        serve.add_argument("--" + name.replace("_", "-"), dest=name, type=_TYPES.get(name, str))
    return parser


def config_from_args(args: argparse.Namespace) -> RuntimeConfig:
    overrides: dict[str, Any] = {}
    for name, (section, field) in SHORT_FIELDS.items():
        value = getattr(args, name, None)
        if value is not None:
            overrides.setdefault(section, {})[field] = value
    cfg_path = args.config
    if args.name or args.alias:
        # Flags name the first model; the file's other entries stay as they are.
        base = load_config(cfg_path, overrides) if cfg_path else None
        first: dict[str, Any] = base.models[0].model_dump() if base else {}
        if args.name:
            first["name"] = args.name
        if args.alias:
            first["aliases"] = list(first.get("aliases", [])) + args.alias
        rest = [m.model_dump() for m in base.models[1:]] if base else []
        overrides["models"] = [first, *rest]
    return load_config(cfg_path, overrides)


class DrainingServer(uvicorn.Server):
    """uvicorn, but SIGTERM/SIGINT first drain (see drain.py) and the process
    then exits 0; a second signal exits at once."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._drain_task: asyncio.Task[None] | None = None
        self.exit_code = 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not calling super(): it would re-raise the signal after shutdown,
        # turning a clean drain into a "killed by SIGTERM" exit status.
        if self.runtime.draining or self._loop is None:
            self.should_exit = True
            self.force_exit = sig == signal.SIGINT and self.runtime.draining
            return
        self._loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        if self._drain_task is None:
            timeout = self.runtime.config.server.drain_timeout_seconds
            self._drain_task = start_drain(self.runtime, timeout, self._finished)

    def _finished(self) -> None:
        self.should_exit = True

    def fatal(self) -> None:
        self.exit_code = 1
        self.should_exit = True

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    _loop: asyncio.AbstractEventLoop | None = None


def serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.server.log_level)
    problems = adapter_problems(config)
    if problems:  # before anything starts: a clear reason, not a 500 per request
        for problem in problems:
            log.error("invalid adapter", extra={"fields": {"problem": problem}})
        print("pasture-runtime: " + "; ".join(problems), file=sys.stderr)
        record(config.server.termination_message_path, "invalid adapter: " + "; ".join(problems))
        return 2
    holder: dict[str, DrainingServer] = {}
    app = create_app(config, on_fatal=lambda: holder["server"].fatal())
    uv_config = uvicorn.Config(
        app,
        host=config.server.host,
        port=config.server.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # Drain already waited for requests; uvicorn only closes connections.
        timeout_graceful_shutdown=5,
        timeout_keep_alive=5,
    )
    server = DrainingServer(uv_config, app.state.runtime)
    holder["server"] = server
    log.info(
        "starting",
        extra={"fields": {"model": config.engine.model, "port": config.server.port}},
    )
    server.run()
    return server.exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":  # vLLM spawns its engine core: guard the entry point
    sys.exit(main())
