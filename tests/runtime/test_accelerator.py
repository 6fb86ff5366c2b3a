"""Accelerator memory for /api/ps. The CPU path runs for real here; the NVML
path needs a GPU, which this machine has not: it is checked against a stand-in
for NVML's Python binding (the calls accelerator.py makes, nothing more)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pasture_runtime import accelerator


@pytest.mark.vllm  # vLLM's platform detection says CPU
def test_a_cpu_runtime_has_nothing_on_an_accelerator() -> None:
    assert accelerator._measure() == 0
    assert accelerator.used_bytes() == 0


class _NVMLError(Exception):
    pass


def _nvml(devices: dict[str, Any]) -> Any:
    """GPU "plain" (40 GiB used) and "mig" (MIG-partitioned: the parent has no
    memory info, its instances 1 and 3 GiB; slot 1 not visible)."""

    def memory(handle: str) -> Any:
        if handle == "mig":
            raise _NVMLError("not supported")
        return SimpleNamespace(used=devices[handle])

    def mig_handle(handle: str, i: int) -> str:
        if i == 1:
            raise _NVMLError("not found")
        return f"mig{i}"

    return SimpleNamespace(
        NVMLError=_NVMLError,
        nvmlDeviceGetMemoryInfo=memory,
        nvmlDeviceGetMaxMigDeviceCount=lambda h: 3,
        nvmlDeviceGetMigDeviceHandleByIndex=mig_handle,
    )


def test_gpu_memory_is_what_nvml_reports_used_mig_instances_summed() -> None:
    gib = 1 << 30
    nvml = _nvml({"plain": 40 * gib, "mig0": 1 * gib, "mig2": 3 * gib})
    assert accelerator._device_used(nvml, "plain") == 40 * gib
    assert accelerator._device_used(nvml, "mig") == 4 * gib
