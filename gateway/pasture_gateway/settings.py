"""The gateway's settings, parsed once (flags, then PASTURE_GATEWAY_* env)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 11434
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    kubeconfig: str | None = None
    hold_timeout: float = 600.0
    max_held: int = 64  # per ModelDeployment
    retry_after: int = 5  # seconds, on 429 and hold timeouts
    max_attempts: int = 3  # replicas tried per request (before any byte)
    max_body_bytes: int = 64 * 1024 * 1024
    api_keys_file: str | None = None
    upstream_key_file: str | None = None
    audit: bool = True  # one JSON record per API call on the `pasture.audit` logger (stdout)
    log_level: str = "info"
    objects_file: str | None = None  # a fixed table instead of watches (benches, local runs)
    # Management (ollama pull/create/cp/rm): what a pull creates (chart
    # gateway.management.*). Off for callers without a key unless allowed.
    management: bool = True  # False: the chart gave the gateway no RBAC to manage
    manage_anonymous: bool = False
    manage_namespace: str = ""  # empty: the first served namespace, else "default"
    manage_cache_size: str = "20Gi"
    manage_storage_class: str = ""
    manage_gpu_profile: str = ""
    manage_idle_timeout: str = "5m"
    manage_max_replicas: int = 1
    pull_timeout: float = 3600.0
    fair_queueing: bool = True  # queue per tenant when a model is saturated
    max_queued: int = 256  # per ModelDeployment, waiting for a fair turn
    peers_deployment: str | None = None  # the gateway's own Deployment: limits are shared
    peers_namespace: str | None = None  # its namespace (default: the service account's)
