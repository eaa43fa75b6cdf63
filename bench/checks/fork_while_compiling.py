"""Forks N times (default 20) while another thread compiles; each child compiles and runs a function of its own and exits 0 when correct; children still running after 60 s count as hung (issue 12).

    python -m bench.checks.fork_while_compiling [N]
"""
import os
import sys
import threading
import time

import numpy as np

import tcomp

stop = threading.Event()

def compile_forever():
    n = 1
    while not stop.is_set():
        n += 1
        f = tcomp.jit(lambda x, n=n: tcomp.tanh(x * float(n)) @ x.T)
        f(np.ones((n % 7 + 2, 3), np.float32))

worker = threading.Thread(target=compile_forever, daemon=True)
worker.start()
time.sleep(0.5)
children = []
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 20):
    time.sleep(0.05)
    pid = os.fork()
    if pid == 0:
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        got = np.asarray(tcomp.jit(lambda x: tcomp.exp(x) + float(i))(x))
        os._exit(0 if np.allclose(got, np.exp(x) + i) else 3)
    children.append(pid)
deadline = time.time() + 60
status = {}
while children and time.time() < deadline:
    for pid in list(children):
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status[pid] = os.waitstatus_to_exitcode(code)
            children.remove(pid)
    time.sleep(0.05)
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    status[pid] = "hung"
stop.set()
ok = sum(1 for v in status.values() if v == 0)
print(f"{ok} of {len(status)} children finished correctly; hung: {sum(1 for v in status.values() if v == 'hung')}")
