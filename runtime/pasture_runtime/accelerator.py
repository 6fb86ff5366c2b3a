"""Memory really in use on this pod's accelerators, for /api/ps's
`size_vram` (what `ollama ps` shows as GPU vs CPU): 0 on a CPU runtime;
otherwise what NVML reports used on the GPUs this pod sees (vLLM's engine
holds its weights and its preallocated KV cache there, in its own process,
so the API process's own CUDA counters would say 0). Cached briefly: the
engine's allocation is fixed once it has started."""

from __future__ import annotations

import logging
import time
from typing import Any

from . import vllm_adapters

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
_cache: tuple[float, int] | None = None


def _device_used(nvml: Any, handle: Any) -> int:
    """A GPU's used memory; for a MIG-partitioned one, its instances' (the
    ones this container sees), which NVML reports per MIG device."""
    try:
        return int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
    except nvml.NVMLError:
        used = 0
        for i in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
            except nvml.NVMLError:
                continue
            used += int(nvml.nvmlDeviceGetMemoryInfo(mig).used)
        return used


def _nvml_used_bytes() -> int:
    nvml: Any = vllm_adapters.nvml()
    nvml.nvmlInit()
    try:
        return sum(
            _device_used(nvml, nvml.nvmlDeviceGetHandleByIndex(i))
            for i in range(nvml.nvmlDeviceGetCount())
        )
    finally:
        nvml.nvmlShutdown()


def _measure() -> int:
    try:
        if vllm_adapters.platform_is_cpu():
            return 0
        return _nvml_used_bytes()
    except Exception:  # no NVML (another accelerator, a driver issue): report none
        log.debug("accelerator memory unknown", exc_info=True)
        return 0


def used_bytes() -> int:
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > CACHE_SECONDS:
        _cache = (now, _measure())
    return _cache[1]
