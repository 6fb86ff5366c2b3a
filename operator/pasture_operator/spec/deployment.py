"""A typed, frozen view of a ModelDeployment's spec (the CRD's defaults applied once, here).

`spec.autoscaling` is read by autoscale/policy.py's AutoscalingSpec (the
autoscaler's own layer), not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pasture_operator.constants import RUNTIME_PORT

_Obj = Mapping[str, Any]


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


@dataclass(frozen=True)
class Resources:
    """spec.resources. `gpus` and `gpu_resource_name` are None when not set: a
    GPU profile then decides (reconcile/placement.py)."""

    profile: str | None = None
    gpus: int | None = None
    gpu_resource_name: str | None = None
    cpu: Any = None  # Kubernetes quantities, as written
    memory: Any = None
    shm_size: str = "2Gi"
    # Pods (nodes) per replica: above 1 a replica is a LeaderWorkerSet group
    # (builders/leaderworkerset.py); gpus is then per node.
    nodes_per_replica: int = 1
    # A node label whose domains hold one group each (LeaderWorkerSet exclusive placement).
    exclusive_topology: str | None = None

    @classmethod
    def from_spec(cls, res: _Obj) -> Resources:
        return cls(
            profile=str(res["profile"]) if res.get("profile") else None,
            gpus=_int_or_none(res.get("gpus")),
            gpu_resource_name=str(res["gpuResourceName"]) if res.get("gpuResourceName") else None,
            cpu=res.get("cpu"),
            memory=res.get("memory"),
            shm_size=str(res.get("shmSize") or "2Gi"),
            nodes_per_replica=int(res.get("nodesPerReplica") or 1),
            exclusive_topology=str(res["exclusiveTopology"])
            if res.get("exclusiveTopology")
            else None,
        )


@dataclass(frozen=True)
class EngineSettings:
    """spec.engine; None leaves the choice to the Model's hints or the engine."""

    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int | None = None  # None: the pod's GPUs / its pipeline stages
    # Pipeline stages; with several nodes per replica, one per node (the CRD checks).
    pipeline_parallel_size: int = 1
    max_num_seqs: int | None = None
    enforce_eager: bool = False
    extra_args: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, eng: _Obj) -> EngineSettings:
        return cls(
            max_model_len=_int_or_none(eng.get("maxModelLen") or None),
            gpu_memory_utilization=float(eng.get("gpuMemoryUtilization") or 0.9),
            tensor_parallel_size=_int_or_none(eng.get("tensorParallelSize")),
            pipeline_parallel_size=int(eng.get("pipelineParallelSize") or 1),
            max_num_seqs=_int_or_none(eng.get("maxNumSeqs")),
            enforce_eager=bool(eng.get("enforceEager", False)),
            extra_args=dict(eng.get("extraArgs") or {}),
        )


@dataclass(frozen=True)
class ServerSettings:
    """spec.server: the runtime's drain timeout and admission limits."""

    drain_timeout_seconds: int = 30
    max_running: int | None = None
    max_waiting: int | None = None

    @classmethod
    def from_spec(cls, srv: _Obj) -> ServerSettings:
        return cls(
            drain_timeout_seconds=int(srv.get("drainTimeoutSeconds", 30)),
            max_running=_int_or_none(srv.get("maxRunning")),
            max_waiting=_int_or_none(srv.get("maxWaiting")),
        )


@dataclass(frozen=True)
class ServiceSettings:
    port: int = RUNTIME_PORT
    type: str = "ClusterIP"
    annotations: Mapping[str, str] | None = None

    @classmethod
    def from_spec(cls, svc: _Obj) -> ServiceSettings:
        return cls(
            port=int(svc.get("port") or RUNTIME_PORT),
            type=str(svc.get("type") or "ClusterIP"),
            annotations=svc.get("annotations"),
        )


@dataclass(frozen=True)
class Access:
    """spec.access: who may reach the pods (a NetworkPolicy is made only with it)."""

    namespaces: tuple[str, ...] = ()
    pod_selector: Mapping[str, str] | None = None
    metrics_namespace: str = "monitoring"

    @classmethod
    def from_spec(cls, access: _Obj) -> Access:
        return cls(
            namespaces=tuple(str(n) for n in access.get("namespaces") or ()),
            pod_selector=dict(access["podSelector"]) if access.get("podSelector") else None,
            metrics_namespace=str(access.get("metricsNamespace") or "monitoring"),
        )


@dataclass(frozen=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True)
class PodOverrides:
    """spec.podTemplate: additions to the runtime pod, merged after ours."""

    env: tuple[_Obj, ...] = ()
    volume_mounts: tuple[_Obj, ...] = ()
    volumes: tuple[_Obj, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, tpl: _Obj) -> PodOverrides:
        return cls(
            env=tuple(tpl.get("env") or ()),
            volume_mounts=tuple(tpl.get("volumeMounts") or ()),
            volumes=tuple(tpl.get("volumes") or ()),
            labels=dict(tpl.get("labels") or {}),
            annotations=dict(tpl.get("annotations") or {}),
        )


@dataclass(frozen=True)
class DeploymentSpec:
    model_ref: str
    variants: tuple[str, ...] = ()
    replicas: int = 1
    image: str | None = None  # None: the operator's default runtime image
    image_pull_policy: str | None = None
    resources: Resources = field(default_factory=Resources)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[_Obj, ...] = ()
    affinity: _Obj | None = None
    priority_class_name: str | None = None
    engine: EngineSettings = field(default_factory=EngineSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    access: Access | None = None
    api_key_secret: SecretKey | None = None
    pod_overrides: PodOverrides = field(default_factory=PodOverrides)
    startup_timeout_seconds: int = 1800

    @classmethod
    def from_object(cls, md: _Obj) -> DeploymentSpec:
        return cls.from_spec(md.get("spec") or {})

    @classmethod
    def from_spec(cls, spec: _Obj) -> DeploymentSpec:
        key_ref = spec.get("apiKeySecretRef")
        return cls(
            model_ref=str((spec.get("modelRef") or {}).get("name") or ""),
            variants=tuple(str(v) for v in spec.get("variants") or ()),
            replicas=int(spec.get("replicas", 1)),
            image=str(spec["image"]) if spec.get("image") else None,
            image_pull_policy=str(spec["imagePullPolicy"]) if spec.get("imagePullPolicy") else None,
            resources=Resources.from_spec(spec.get("resources") or {}),
            node_selector=dict(spec.get("nodeSelector") or {}),
            tolerations=tuple(spec.get("tolerations") or ()),
            affinity=dict(spec["affinity"]) if spec.get("affinity") else None,
            priority_class_name=str(spec["priorityClassName"])
            if spec.get("priorityClassName")
            else None,
            engine=EngineSettings.from_spec(spec.get("engine") or {}),
            server=ServerSettings.from_spec(spec.get("server") or {}),
            service=ServiceSettings.from_spec(spec.get("service") or {}),
            access=Access.from_spec(spec["access"]) if spec.get("access") else None,
            api_key_secret=SecretKey(str(key_ref["name"]), str(key_ref.get("key") or "api-key"))
            if key_ref
            else None,
            pod_overrides=PodOverrides.from_spec(spec.get("podTemplate") or {}),
            startup_timeout_seconds=int(spec.get("startupTimeoutSeconds") or 1800),
        )

    @property
    def multi_node(self) -> bool:
        """A replica spans several pods: a LeaderWorkerSet group, not a Deployment's pod."""
        return self.resources.nodes_per_replica > 1

    @property
    def model_names(self) -> tuple[str, ...]:
        """The base Model, then its variants."""
        return (self.model_ref, *self.variants)
