"""2,000 retraces of one jitted function with new shapes on llvm: RSS before, after, and after ``del f`` (issue 12).

    python -m bench.checks.retrace_rss [N]
"""
import ctypes
import gc
import os
import sys
import tempfile

os.environ.setdefault("TCOMP_CACHE_DIR", tempfile.mkdtemp(prefix="rss-cache-"))
import numpy as np

import tcomp


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def g(x):
    return tcomp.tanh(x * 2.0 + 1.0).sum()


f = tcomp.jit(g, backend="llvm")
f(np.ones(1, np.float32))
print(f"before: {rss_mb():.1f} MB")
for n in range(2, N + 2):
    f(np.ones(n, np.float32))
print(f"after {N} retraces: {rss_mb():.1f} MB (cache_size={f.cache_size}, trace_count={f.trace_count})")
del f
gc.collect()
print(f"after del f; gc.collect(): {rss_mb():.1f} MB")
ctypes.CDLL("libc.so.6").malloc_trim(0)
print(f"after malloc_trim(0): {rss_mb():.1f} MB")
