"""Intel AMX for vLLM's CPU kernels.

Linux hands out AMX tile data only to a process that asks for it
(arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); a process that runs an
AMX instruction without asking is killed with SIGILL. oneDNN asks before its
own AMX kernels, but vLLM's CPU attention and GEMM kernels for bfloat16 use AMX
tiles directly: whether a worker had asked depended on which kernel ran
first, and a worker whose first forward pass hit vLLM's kernel died
(`Worker proc VllmWorker-0 died unexpectedly (exit code: -4)`). Asking once
per process, at plugin load (before any kernel runs), makes that impossible.
Harmless elsewhere: a CPU or kernel without AMX answers an error, ignored."""

from __future__ import annotations

import ctypes
import platform

_SYS_ARCH_PRCTL = 158  # x86_64
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18


def allow_amx() -> bool:
    """Ask the kernel for AMX tile data; True when granted."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA)) == 0
    except OSError:
        return False
