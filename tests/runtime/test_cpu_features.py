"""AMX permission: every vLLM process asks for it when our plugin loads.

Without it a worker that runs vLLM's bf16 AMX kernels first is killed with
SIGILL (seen on this project's machines: `VllmWorker-0 died unexpectedly
(exit code: -4)`). Checked in a fresh process, as each vLLM process is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import ctypes
from pasture_runtime import vllm_plugin
def perm():
    libc = ctypes.CDLL(None, use_errno=True)
    mask = ctypes.c_uint64(0)
    assert libc.syscall(158, 0x1022, ctypes.byref(mask)) == 0  # ARCH_GET_XCOMP_PERM
    return bool(mask.value & (1 << 18))  # XFEATURE_XTILEDATA
before = perm()
vllm_plugin.register()
print(before, perm())
"""


def _has_amx() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "amx_tile" in cpuinfo.read_text()


@pytest.mark.skipif(not _has_amx(), reason="this CPU has no AMX")
def test_plugin_load_grants_amx_tile_data() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["False", "True"]


def test_allow_amx_is_harmless_anywhere() -> None:
    from pasture_runtime.cpu_features import allow_amx

    assert allow_amx() in (True, False)
    assert allow_amx() in (True, False)  # asking twice is fine
