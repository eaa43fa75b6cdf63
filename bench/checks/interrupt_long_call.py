"""A long llvm call (40 layers of tanh(x @ b) at 2048x2048) interrupted by SIGINT 2 s in: how long until KeyboardInterrupt (issue 12).

    TCOMP_CACHE_DIR=off python -m bench.checks.interrupt_long_call
"""
import os
import signal
import threading
import time

import numpy as np

import tcomp


@tcomp.jit
def heavy(a, b):
    x = a
    for _ in range(40):
        x = tcomp.tanh(x @ b)
    return x

n = 2048
a = np.random.rand(n, n).astype(np.float32) / n
b = np.random.rand(n, n).astype(np.float32)
t = time.perf_counter()
heavy(a, b)
print("first call (compile+run)", round(time.perf_counter() - t, 2), "s", flush=True)
threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t = time.perf_counter()
try:
    heavy(a, b)
    print("not interrupted: call took", round(time.perf_counter() - t, 2), "s")
except KeyboardInterrupt:
    print("KeyboardInterrupt", round(time.perf_counter() - t, 2), "s after the call began (SIGINT at 2.0 s)")
