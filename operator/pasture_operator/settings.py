"""Command-line options of `pasture-operator run` and the kopf settings they imply."""

from __future__ import annotations

import argparse
import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import kopf

from pasture_operator import catalog
from pasture_operator.constants import DEFAULT_IMAGE, GROUP
from pasture_operator.gpu_profiles import GpuProfile, load_profiles

# Set by the Helm chart to the mounted ConfigMap's profiles.yaml.
GPU_PROFILES_ENV = "PASTURE_GPU_PROFILES"


@dataclass(frozen=True)
class OperatorCommandLine:
    """What `pasture-operator run` was given (flags, then environment): the whole process."""

    namespaces: list[str] = field(default_factory=list)  # empty: all namespaces
    peering: str | None = "pasture-operator"  # None: standalone
    priority: int = 0
    liveness: str | None = "http://0.0.0.0:8080/healthz"
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9090  # 0: no metrics server
    workers: int = 8
    resync_seconds: float = 300.0
    default_image: str = DEFAULT_IMAGE
    downloader_image: str = "ghcr.io/pasture-dev/pasture-operator:0.1.0"
    kubeconfig: str | None = None
    log_format: str = "json"
    verbose: bool = False
    gpu_profiles_path: str | None = None  # None: no GPU profiles
    gpu_profiles: Mapping[str, GpuProfile] = field(default_factory=dict)
    servicemonitor_labels: Mapping[str, str] = field(default_factory=dict)
    operator_namespace: str | None = None  # admitted by ModelDeployment NetworkPolicies
    hf_endpoint: str | None = None  # a Hugging Face mirror (HF_ENDPOINT) for pods


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pasture-operator", description="Reconcile Pasture Models and ModelDeployments."
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator")
    _add_watch_options(run)
    _add_child_options(run)
    run.add_argument("--log-format", choices=["json", "plain", "full"], default="json")
    run.add_argument("-v", "--verbose", action="store_true")
    return p


def _add_watch_options(run: argparse.ArgumentParser) -> None:
    """What is watched, leader election, probes, metrics and the work loop."""
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable; glob patterns allowed); default: all namespaces",
    )
    run.add_argument("--all-namespaces", "-A", action="store_true")
    run.add_argument(
        "--peering",
        default=os.environ.get("PASTURE_PEERING", "pasture-operator"),
        help="kopf peering object name for leader election",
    )
    run.add_argument("--standalone", action="store_true", help="no peering (single replica)")
    run.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; default random so that replicas never tie",
    )
    run.add_argument(
        "--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL, or 'none'"
    )
    run.add_argument("--metrics-host", default="0.0.0.0")
    run.add_argument("--metrics-port", type=int, default=9090, help="0 disables")
    run.add_argument("--workers", type=int, default=8)
    run.add_argument(
        "--resync-seconds",
        type=float,
        default=300.0,
        help="list every watched kind this often and drop what the watches missed "
        "(also done after each kopf re-list); 0: only after re-lists",
    )


def _add_child_options(run: argparse.ArgumentParser) -> None:
    """The API access and what goes into the children the operator makes."""
    run.add_argument(
        "--default-image", default=os.environ.get("PASTURE_RUNTIME_IMAGE", DEFAULT_IMAGE)
    )
    run.add_argument(
        "--downloader-image",
        default=os.environ.get(
            "PASTURE_OPERATOR_IMAGE", "ghcr.io/pasture-dev/pasture-operator:0.1.0"
        ),
    )
    run.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    run.add_argument(
        "--gpu-profiles",
        metavar="FILE",
        default=os.environ.get(GPU_PROFILES_ENV) or None,
        help=f"YAML file of named GPU profiles (default: ${GPU_PROFILES_ENV}; unset: none); "
        "read once at start, an unreadable or invalid file stops the operator",
    )
    run.add_argument(
        "--servicemonitor-label",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="label on every ModelDeployment ServiceMonitor (repeatable), e.g. the "
        "`release=<name>` a kube-prometheus-stack selects",
    )
    run.add_argument(
        "--operator-namespace",
        default=os.environ.get("POD_NAMESPACE") or None,
        help="the operator's namespace, admitted by ModelDeployment NetworkPolicies "
        "(default: $POD_NAMESPACE, set by the chart)",
    )
    run.add_argument(
        "--hf-endpoint",
        metavar="URL",
        default=os.environ.get("PASTURE_HF_ENDPOINT") or None,
        help="Hugging Face mirror given to download Jobs and runtime pods as HF_ENDPOINT",
    )


def from_args(argv: list[str] | None = None) -> OperatorCommandLine:
    """The run configuration; raises GpuProfileError when the GPU profiles file
    cannot be read or is invalid (the operator must not start without them), and
    CatalogError when the library catalog is (the entry's name and field)."""
    a = parser().parse_args(argv)
    profiles = load_profiles(a.gpu_profiles) if a.gpu_profiles else {}
    catalog.load()  # PASTURE_CATALOG_FILE's files or the packaged default
    labels: dict[str, str] = {}
    for item in a.servicemonitor_label:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            parser().error(f"--servicemonitor-label wants KEY=VALUE, got {item!r}")
        labels[key] = value
    return OperatorCommandLine(
        namespaces=[] if a.all_namespaces else list(a.namespace),
        peering=None if a.standalone else a.peering,
        priority=a.priority if a.priority is not None else random.randint(1, 1_000_000),
        liveness=None if a.liveness == "none" else a.liveness,
        metrics_host=a.metrics_host,
        metrics_port=a.metrics_port,
        workers=a.workers,
        resync_seconds=a.resync_seconds,
        default_image=a.default_image,
        downloader_image=a.downloader_image,
        kubeconfig=a.kubeconfig,
        log_format=a.log_format,
        verbose=a.verbose,
        gpu_profiles_path=a.gpu_profiles,
        gpu_profiles=profiles,
        servicemonitor_labels=labels,
        operator_namespace=a.operator_namespace,
        hf_endpoint=a.hf_endpoint,
    )


def apply_kopf_settings(settings: kopf.OperatorSettings, config: OperatorCommandLine) -> None:
    # kopf's bookkeeping lives in annotations, never in .status (ours alone).
    prefix = f"kopf.{GROUP}"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=prefix, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Our own Events are posted by the controller; kopf's log lines stay logs.
    settings.posting.level = logging.ERROR
    settings.peering.standalone = config.peering is None
    if config.peering:
        settings.peering.name = config.peering
    settings.peering.priority = config.priority
    settings.peering.mandatory = False
    # The apiserver ends a watch after this; kopf resumes from the last
    # resourceVersion (no re-list: the resync timer is the drift safety net).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # Keep retrying through an apiserver outage instead of giving up after ~2 minutes.
    settings.networking.error_backoffs = [1, 1, 2, 3, 5, 8, 10] + [10] * 60
    settings.execution.max_workers = 4
