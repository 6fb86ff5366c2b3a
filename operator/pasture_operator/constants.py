"""Names shared by the operator's builders, plan and handlers."""

from __future__ import annotations

from typing import Final

GROUP: Final = "pasture.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
MODEL_KIND: Final = "Model"
DEPLOYMENT_KIND: Final = "ModelDeployment"
MODEL_PLURAL: Final = "models"
DEPLOYMENT_PLURAL: Final = "modeldeployments"

# The one field manager for every server-side apply this operator makes.
FIELD_MANAGER: Final = "pasture-operator"

# Labels on every child; the selector labels never change after creation
# (a Deployment's selector is immutable).
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_DEPLOYMENT: Final = "pasture.dev/deployment"
LABEL_MODEL: Final = "pasture.dev/model"
# LeaderWorkerSet's pod label: "0" on a group's leader (the pod serving the API).
LWS_WORKER_INDEX_LABEL: Final = "leaderworkerset.sigs.k8s.io/worker-index"
MANAGED_BY: Final = "pasture-operator"
RUNTIME_APP: Final = "pasture-runtime"

# Pod template annotation carrying the hash of the runtime config, so that a
# config change rolls the pods (a ConfigMap change alone would not).
ANNOTATION_CONFIG_HASH: Final = "pasture.dev/config-hash"

RUNTIME_PORT: Final = 11434
CONFIG_KEY: Final = "runtime.yaml"
CONFIG_DIR: Final = "/etc/pasture"
CONFIG_PATH: Final = f"{CONFIG_DIR}/{CONFIG_KEY}"
API_KEYS_DIR: Final = "/etc/pasture/api-keys"
MODELS_DIR: Final = "/models"
ADAPTERS_DIR: Final = "/adapters"
DEFAULT_IMAGE: Final = "ghcr.io/pasture-dev/pasture-runtime:0.1.0"
DEFAULT_GPU_RESOURCE: Final = "nvidia.com/gpu"
# Subdirectory of a cache PVC the downloader fills.
CACHE_SUBDIR: Final = "model"
