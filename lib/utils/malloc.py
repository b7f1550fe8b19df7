"""glibc's malloc, set up for the backbone's large short-lived tensors (applied by every script's ``run_cli``).

By default glibc serves a large block with its own ``mmap`` and returns it to the system on ``free``
(the threshold adapts, but only up to 32 MB and not for every pattern), and it trims freed memory at the
top of its heap. Each clip then faults its activations in again page by page: on the development VM
8,000-30,000 page faults per Lite clip in float32 and 50,000-140,000 with ``--precision int8``, which
cost 5-10 % of a float32 clip and a third of an int8 one (docs/performance.md). With a fixed high
``mmap`` threshold and no trimming, freed blocks stay mapped and are reused: no faults after the first
clip. The process keeps its peak heap instead of returning it, which a long-running script reaches
anyway. Other C libraries (macOS, musl) are left alone.
"""
import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# blocks below this come from the heap (older glibc versions accept at most 32 MB: the fallback)
MMAP_THRESHOLDS = (1 << 30, 32 << 20)
TRIM_THRESHOLD = 2 ** 31 - 1  # the largest value mallopt takes: trim (almost) never


def keep_freed_memory():
    """Tell glibc to keep freed memory for reuse instead of unmapping or trimming it. Returns whether it
    applied (False off glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    if not any(mallopt(M_MMAP_THRESHOLD, threshold) == 1 for threshold in MMAP_THRESHOLDS):
        return False
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
