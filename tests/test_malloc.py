"""lib/utils/malloc.py: glibc keeps freed memory, so the backbone's buffers are not faulted in again per clip."""
import ctypes
import subprocess
import sys

import pytest

from lib.utils.malloc import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")

# a 40 MB block allocated and freed 20 times; prints the page faults of the last 10 rounds
_ROUNDS = """
import resource, sys
sys.path.insert(0, {repo!r})
if {tuned}:
    from lib.utils.malloc import keep_freed_memory
    assert keep_freed_memory()
import torch
for i in range(20):
    if i == 10:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(10 << 20).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_freed_blocks_are_reused_without_page_faults():
    import os
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    faults = {tuned: int(subprocess.run([sys.executable, "-c", _ROUNDS.format(repo=repo, tuned=tuned)],
                                        capture_output=True, text=True, check=True).stdout)
              for tuned in (False, True)}
    assert faults[True] < 1000 < faults[False]  # 10 rounds x 10,000 pages without it


def test_keep_freed_memory_reports_whether_it_applied():
    assert keep_freed_memory() is GLIBC
