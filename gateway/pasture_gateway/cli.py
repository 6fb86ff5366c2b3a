"""`pasture-gateway`: flags, each with a PASTURE_GATEWAY_* environment default."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from types import FrameType

import uvicorn

from pasture_access.keyfile import hash_key

from .app import Gateway, build, create_app
from .kube.connection import connect
from .settings import Settings


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"PASTURE_GATEWAY_{name}", default)


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="pasture-gateway", description=__doc__)
    p.add_argument("--host", default=_env("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(_env("PORT", "11434") or 11434))
    p.add_argument(
        "--namespaces",
        default=_env("NAMESPACES", ""),
        help="comma-separated namespaces to serve; empty: every namespace",
    )
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--hold-timeout", type=float, default=float(_env("HOLD_TIMEOUT", "600") or 600))
    p.add_argument("--max-held", type=int, default=int(_env("MAX_HELD", "64") or 64))
    p.add_argument("--max-attempts", type=int, default=int(_env("MAX_ATTEMPTS", "3") or 3))
    p.add_argument("--api-keys-file", default=_env("API_KEYS_FILE"))
    p.add_argument(
        "--upstream-key-file",
        default=_env("UPSTREAM_KEY_FILE"),
        help="file whose first key the gateway presents to runtimes (Authorization: Bearer)",
    )
    p.add_argument(
        "--audit",
        action=argparse.BooleanOptionalAction,
        default=(_env("AUDIT", "true") or "true").lower() not in ("0", "false", "no", "off"),
        help="one JSON record per API call on the pasture.audit logger (stdout)",
    )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "info"))
    p.add_argument(
        "--fair-queueing",
        default=_env("FAIR_QUEUEING", "true"),
        help="queue per tenant, by token-weighted fair share, when a model is saturated "
        "(true|false)",
    )
    p.add_argument("--max-queued", type=int, default=int(_env("MAX_QUEUED", "256") or 256))
    p.add_argument(
        "--peers-deployment",
        default=_env("PEERS_DEPLOYMENT"),
        help="the gateway's own Deployment: each replica enforces 1/ready of the limits",
    )
    p.add_argument("--peers-namespace", default=_env("PEERS_NAMESPACE"))
    p.add_argument(
        "--objects-file",
        default=None,
        help="YAML of Models, ModelDeployments and Pods to route by, instead of watching a "
        "cluster (benchmarks, local runs)",
    )
    _manage_flags(p)
    a = p.parse_args(argv)
    _check_manage_namespace(p, a)
    return Settings(
        host=a.host,
        port=a.port,
        namespaces=tuple(n.strip() for n in a.namespaces.split(",") if n.strip()),
        kubeconfig=a.kubeconfig,
        hold_timeout=a.hold_timeout,
        max_held=a.max_held,
        max_attempts=max(1, a.max_attempts),
        api_keys_file=a.api_keys_file,
        upstream_key_file=a.upstream_key_file,
        audit=a.audit,
        log_level=a.log_level,
        objects_file=a.objects_file,
        fair_queueing=str(a.fair_queueing).lower() not in ("false", "0", "no", "off"),
        max_queued=max(0, a.max_queued),
        peers_deployment=a.peers_deployment or None,
        peers_namespace=a.peers_namespace or None,
        management=a.management,
        manage_anonymous=a.manage_anonymous,
        manage_namespace=a.manage_namespace,
        manage_cache_size=a.manage_cache_size,
        manage_storage_class=a.manage_storage_class,
        manage_gpu_profile=a.manage_gpu_profile,
        manage_idle_timeout=a.manage_idle_timeout,
        manage_max_replicas=max(1, a.manage_max_replicas),
        pull_timeout=a.pull_timeout,
    )


def _check_manage_namespace(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Pulled models must land where the gateway watches (and its Roles let it write)."""
    served = [n.strip() for n in a.namespaces.split(",") if n.strip()]
    if a.management and a.manage_namespace and served and a.manage_namespace not in served:
        p.error(
            f"--manage-namespace {a.manage_namespace} is not one of the served namespaces "
            f"(--namespaces {','.join(served)}): the gateway would neither watch nor be let "
            "write the models it pulls there"
        )


def _manage_flags(p: argparse.ArgumentParser) -> None:
    """What `ollama pull` creates, and who may (docs/cli.md)."""
    p.add_argument(
        "--no-management",
        dest="management",
        action="store_false",
        default=(_env("MANAGEMENT", "true") or "").lower() not in ("0", "false", "no"),
        help="answer the management routes with 403 (the chart's gateway.management.enabled)",
    )
    p.add_argument(
        "--manage-anonymous",
        action="store_true",
        default=(_env("MANAGE_ANONYMOUS", "") or "").lower() in ("1", "true", "yes"),
        help="let callers without a key pull, create, copy and delete models (trusted "
        "namespaces only; with keys, the `manage` scope decides)",
    )
    p.add_argument("--manage-namespace", default=_env("MANAGE_NAMESPACE", ""))
    p.add_argument("--manage-cache-size", default=_env("MANAGE_CACHE_SIZE", "20Gi"))
    p.add_argument("--manage-storage-class", default=_env("MANAGE_STORAGE_CLASS", ""))
    p.add_argument("--manage-gpu-profile", default=_env("MANAGE_GPU_PROFILE", ""))
    p.add_argument("--manage-idle-timeout", default=_env("MANAGE_IDLE_TIMEOUT", "5m"))
    p.add_argument(
        "--manage-max-replicas", type=int, default=int(_env("MANAGE_MAX_REPLICAS", "1") or 1)
    )
    p.add_argument(
        "--pull-timeout", type=float, default=float(_env("PULL_TIMEOUT", "3600") or 3600)
    )


class _Server(uvicorn.Server):
    """On SIGTERM/SIGINT, held requests are answered at once (503, shutting
    down) instead of keeping the graceful shutdown waiting for their timeout."""

    gateway: Gateway | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.gateway is not None:
            asyncio.get_event_loop().call_soon_threadsafe(self.gateway.holds.stop)


def hash_key_command(argv: list[str]) -> None:
    """`pasture-gateway hash-key [KEY]`: the sha256 a key file entry holds
    (the key from the argument, else read from stdin or a prompt)."""
    if argv:
        key = argv[0]
    elif sys.stdin.isatty():
        key = getpass.getpass("API key: ")
    else:
        key = sys.stdin.readline()
    if not key.strip():
        raise SystemExit("hash-key: no key given")
    print(hash_key(key))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash-key"]:
        hash_key_command(args[1:])
        return
    settings = parse_args(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    kube = None if settings.objects_file else connect(settings.kubeconfig)
    gateway = build(settings, kube)
    config = uvicorn.Config(
        create_app(gateway),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    server = _Server(config)
    server.gateway = gateway
    server.run()


if __name__ == "__main__":
    main()
