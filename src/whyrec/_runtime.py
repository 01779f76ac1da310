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


def exit_with_parent(parent: int | None = None, *, every: float = 0.5) -> None:
    """End this process within `every` seconds of its parent's death, however the parent died.

    A daemon thread watches the parent's pid: a process whose parent dies is adopted by another
    (init or a subreaper), so its parent pid changes. This covers SIGKILL, which no handler in the
    parent can see. (``prctl(PR_SET_PDEATHSIG)`` fires when the parent *thread* that started the
    child ends, and pools start children from whatever thread submits, so it is not used.)
    """
    import os
    import threading
    import time

    expected = os.getppid() if parent is None else parent
    if os.getppid() != expected:  # the parent is already gone
        os._exit(0)

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(every)
        os._exit(0)  # no cleanup to wait for: the parent that would use our work is gone

    threading.Thread(target=watch, name="whyrec-parent-watch", daemon=True).start()
