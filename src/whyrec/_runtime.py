"""Process-level settings that whyrec's own entry points (CLI, benchmarks) opt into."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_allocator() -> bool:
    """Keep large buffers in glibc's heap instead of fresh mmaps (fewer page faults per step).

    Training allocates the same (batch x items) logits and gradients every step; by default each
    is a new mmap whose pages fault in again. Returns False where glibc is not the allocator.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 31)
        return bool(ok)
    except (OSError, AttributeError):
        return False
