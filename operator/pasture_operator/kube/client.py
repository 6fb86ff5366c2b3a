"""The operator's only door to the apiserver: a few generic calls on the official client.

The official client is synchronous; calls run in a bounded thread pool so the
kopf event loop never blocks. Objects are plain dicts (what the builders make).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from pasture_operator.constants import FIELD_MANAGER

# kind -> (plural, namespaced); every kind the operator reads or writes.
PLURALS: dict[str, tuple[str, bool]] = {
    "ConfigMap": ("configmaps", True),
    "Service": ("services", True),
    "Pod": ("pods", True),
    "Event": ("events", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "Deployment": ("deployments", True),
    "Job": ("jobs", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "NetworkPolicy": ("networkpolicies", True),
    "ServiceMonitor": ("servicemonitors", True),
    "InferencePool": ("inferencepools", True),
    "StorageClass": ("storageclasses", False),
    "Model": ("models", True),
    "ModelDeployment": ("modeldeployments", True),
    "KopfPeering": ("kopfpeerings", True),
    "ClusterKopfPeering": ("clusterkopfpeerings", False),
}


class KubeError(Exception):
    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {body[:500]}")
        self.status = status
        self.reason = reason
        self.body = body


def path_for(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    plural, namespaced = PLURALS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced and namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    return f"{base}/{quote(name)}" if name else base


def load_api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    cfg = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=cfg
        )
    cfg.connection_pool_maxsize = 32
    return k8s.ApiClient(cfg)


class Kube:
    def __init__(self, api: k8s.ApiClient, workers: int = 16) -> None:
        self._api = api
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _request_sync(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        content_type: str | None,
        request_timeout: float,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        url_path = path + (f"?{urlencode(dict(query))}" if query else "")
        _, url, hdrs, _, _ = self._api.param_serialize(
            method=method,
            resource_path=url_path,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        # The client serialises dicts for JSON content types; an apply patch is sent as text.
        payload = (
            json.dumps(body)
            if body is not None and content_type and content_type.endswith("yaml")
            else body
        )
        resp = self._api.call_api(method, url, hdrs, payload, _request_timeout=request_timeout)
        data = resp.read()  # type: ignore[no-untyped-call]
        text = data.decode() if isinstance(data, bytes) else str(data or "")
        if not 200 <= resp.status < 300:
            raise KubeError(resp.status, str(resp.reason), text)
        return json.loads(text) if text else None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        request_timeout: float = 30,
    ) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._request_sync, method, path, query, body, content_type, request_timeout
        )

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply with the operator's single field manager, forcing conflicts."""
        meta = obj["metadata"]
        path = path_for(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        out: dict[str, Any] = await self.request(
            "PATCH",
            path,
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        return out

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        try:
            await self.request(
                "DELETE",
                path_for(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background"},
                content_type="application/json",
            )
        except KubeError as e:
            if e.status != 404:
                raise

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = await self.request(
                "GET", path_for(api_version, kind, namespace, name)
            )
            return out
        except KubeError as e:
            if e.status == 404:
                return None
            raise

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """The items and the list's resourceVersion (0 when not an integer)."""
        query = {"labelSelector": label_selector} if label_selector else None
        out = await self.request("GET", path_for(api_version, kind, namespace), query=query)
        try:
            rv = int((out.get("metadata") or {}).get("resourceVersion") or 0)
        except ValueError:
            rv = 0
        return list(out.get("items") or []), rv

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        query = {
            k: v
            for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector))
            if v
        } or None
        out = await self.request("GET", path_for(api_version, kind, namespace), query=query)
        return list(out.get("items") or [])

    async def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace our status fields in one merge patch on the status subresource."""
        path = path_for(api_version, kind, namespace, name) + "/status"
        out: dict[str, Any] = await self.request(
            "PATCH",
            path,
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
        return out

    async def scale(
        self, api_version: str, kind: str, namespace: str, name: str, replicas: int
    ) -> dict[str, Any]:
        """Set spec.replicas through the scale subresource (what kubectl scale and an HPA use)."""
        path = path_for(api_version, kind, namespace, name) + "/scale"
        out: dict[str, Any] = await self.request(
            "PATCH",
            path,
            body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
            request_timeout=10,
        )
        return out

    async def group_version_exists(self, group_version: str) -> bool:
        try:
            await self.request("GET", f"/apis/{group_version}")
            return True
        except KubeError as e:
            if e.status == 404:
                return False
            raise

    async def post_event(
        self, obj: Mapping[str, Any], type_: str, reason: str, message: str, now: str
    ) -> None:
        meta = obj["metadata"]
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.request(
            "POST",
            path_for("v1", "Event", meta["namespace"]),
            body=event,
            content_type="application/json",
        )
