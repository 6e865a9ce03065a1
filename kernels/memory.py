"""Keep freed arrays' memory in the process, so the next step reuses it without page faults.

glibc's malloc hands every block above its mmap threshold (128 KB at start, raised at most to
32 MB) straight to the operating system and back: a training step that allocates its feature
maps afresh then pays one page fault per 4 KB page on first write. LeNet-5 at batch 256 took
2,784 faults per step, about 40% of the step (measured, benchmarks/NOTES.md). Raising the mmap
and trim thresholds keeps those blocks in malloc's heap, where the next step finds them.

This is a process-wide setting of the C library, like numba's threading layer in
`kernels/__init__.py`; it changes no result. `MINICNN_MALLOC=system` leaves glibc's defaults.
Other C libraries (macOS, musl) are left alone.
"""
import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1     # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 2**20   # blocks up to this size come from the heap, not fresh mmaps
TRIM_THRESHOLD = 256 * 2**20  # free memory kept at the top of the heap before trimming


def keep_freed_memory():
    """Set glibc's thresholds (see the module docstring); True if they were set."""
    if os.environ.get("MINICNN_MALLOC", "") == "system" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
