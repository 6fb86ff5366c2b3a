"""An async HTTP client for the apiserver: in-cluster service account (token
re-read as it rotates) or a kubeconfig. The official client only parses the
credentials; every call goes through httpx, on the gateway's event loop."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path

import httpx
from kubernetes import client as k8s
from kubernetes import config as k8s_config

SA_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class _TokenFile(httpx.Auth):
    """Bearer token from a file, re-read every minute (bound tokens rotate)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._token = ""
        self._read_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if time.monotonic() - self._read_at > 60 or not self._token:
            self._token = self.path.read_text().strip()
            self._read_at = time.monotonic()
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def connect(kubeconfig: str | None = None) -> httpx.AsyncClient:
    cfg = k8s.Configuration()
    auth: httpx.Auth | None = None
    try:
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        auth = _TokenFile(SA_TOKEN)
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=cfg
        )
    headers = {"Accept": "application/json"}
    keys = cfg.api_key or {}
    token = keys.get("BearerToken") or keys.get("authorization")
    if auth is None and token:
        headers["Authorization"] = (
            token if token.lower().startswith("bearer") else f"Bearer {token}"
        )
    verify: str | bool = cfg.ssl_ca_cert or True if cfg.verify_ssl else False
    cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file and cfg.key_file else None
    return httpx.AsyncClient(
        base_url=cfg.host,
        headers=headers,
        auth=auth,
        verify=verify,
        cert=cert,
        timeout=httpx.Timeout(30, connect=10),
        trust_env=False,
    )
