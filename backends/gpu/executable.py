"""A compiled kernel-IR program on a GPU driver: one module, one launch per kernel.

Made once per signature by :class:`tcomp.backends.gpu.backend.GPUBackend`:
the program is rendered in the driver's C dialect
(:mod:`tcomp.backends.cfamily`), built into a module (the driver caches
binaries on disk), and its :func:`~tcomp.backends.cfamily.launch_plan`
turned into (function, buffer slots, sizes) triples. Constant buffers are
uploaded once, on the first call. Each call then:

1. takes the parameters' device buffers (host arrays are uploaded first);
2. takes each output and each temp from the buffer pool (temps get their own
   blocks rather than one arena: the pool makes that cheap, and no kernel
   argument then aliases another);
3. enqueues every kernel in program order on the driver's one queue (the
   kernels of a repeat loop, a scan's body, ``count`` times over: the step
   index is a device buffer that a kernel advances, so no step waits for the
   host; the kernels of a while loop run while its condition buffer holds true,
   which the host reads back before each run: one blocking one-element read per
   iteration, so each iteration waits for the queue to drain, a few microseconds to
   tens of microseconds of latency on a discrete GPU on top of its kernels) and
   returns at once: the outputs are device buffers that later calls consume
   without a host round trip; reading one on the host waits for the queue.

Temps go back to the pool when the call returns; the queue orders their
next use after this call's kernels.

A driver that finishes a kernel's device code only at its first launch
(PoCL's CPU device: :meth:`~tcomp.backends.gpu.driver.Driver.warm_up_size`)
gets that launch at load instead, on scratch buffers, so the build is timed
in ``compile_info()`` (``device_build_s``, part of ``build_s``) rather than
hidden in the first call.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from tcomp.backends.base import Executable
from tcomp.backends.gpu.memory import DeviceBuffer
from tcomp.ir.errors import TcompArgumentError, TcompBackendError
from tcomp.ir.kernel.kernel import Block, Program, program_blocks
from tcomp.ir.types import numpy_dtype

if TYPE_CHECKING:
    from tcomp.backends.gpu.backend import GPUBackend
    from tcomp.backends.options import CompileOptions


class GPUExecutable(Executable):
    """``program`` (kernel IR), ``source`` (the rendered C), ``compile_info()``.

    ``options``: what it was compiled with (the binary cache's folder and limit, used
    when it builds, which may be after the environment changed); None: the
    environment's when it builds."""

    def __init__(
        self,
        backend: "GPUBackend",
        program: Program,
        lower_seconds: float,
        options: "CompileOptions | None" = None,
    ) -> None:
        from tcomp.backends.cfamily import launch_plan, render_program

        self.backend = backend
        self.program = program
        self.options = options
        started = time.perf_counter()
        dialect = backend.dialect
        self.source = render_program(program, dialect)
        self.info: dict[str, Any] = {
            "lower_s": lower_seconds,
            "render_s": time.perf_counter() - started,
        }
        self._slots = {name: slot for slot, name in enumerate(program.buffers)}
        self._slot_types = [  # (shape, dtype) per slot
            (tuple(b.type.shape), numpy_dtype(b.type.dtype)) for b in program.buffers.values()
        ]
        self._params = [self._slots[name] for name in program.params]
        self._param_types = [  # (shape, dtype, bytes) of each parameter
            (
                tuple(program.buffers[name].type.shape),
                numpy_dtype(program.buffers[name].type.dtype),
                program.buffers[name].size * numpy_dtype(program.buffers[name].type.dtype).itemsize,
            )
            for name in program.params
        ]
        self._fresh = [  # (slot, shape, dtype) of each output and temp, made per call
            (self._slots[b.name], tuple(b.type.shape), numpy_dtype(b.type.dtype))
            for b in program.buffers.values()
            if b.kind in ("output", "temp")
        ]
        self._constant_arrays = [
            (self._slots[b.name], np.asarray(b.data, dtype=numpy_dtype(b.type.dtype), order="C"))
            for b in program.buffers.values()
            if b.kind == "constant"
        ]
        self._constants: list[tuple[int, DeviceBuffer]] | None = None
        self._plan = launch_plan(program, dialect)
        self._blocks = program_blocks(program)  # the kernels, grouped by repeat loops
        self._launches: list[tuple[Any, tuple[int, ...], int, int | None]] | None = None
        self._results = [self._slots[name] for name in program.outputs]
        try:
            self.build()
        except TcompBackendError as error:
            if backend._driver is not None:
                raise  # the device compiler rejected the source: a real error, now
            self.info["build"] = f"not built: {error}"  # no device here; rendering still works

    def build(self) -> None:
        """Compiles (or finds in the cache) and loads the module; opens the driver."""
        if self._launches is not None:
            return
        started = time.perf_counter()
        driver = self.backend.driver
        limit = driver.info.max_work_group_size
        for launch in self._plan:
            if launch.local_size is not None and launch.local_size > limit:
                raise TcompBackendError(
                    f"{driver.info.describe()}: kernel {launch.kernel} of {self.program.name} "
                    f"needs work-groups of {launch.local_size}, above the device's limit of "
                    f"{limit}"
                )
        module, build_info = self.backend.build(self.source, self.program.name, self.options)
        self._launches = [
            (
                driver.function(module, launch.function),
                tuple(self._slots[name] for name in launch.buffers),
                launch.global_size,
                launch.local_size,
            )
            for launch in self._plan
        ]
        self._warm_up()
        self.info["build_s"] = time.perf_counter() - started
        self.info.update(build_info)
        self.info.pop("build", None)

    def _warm_up(self) -> None:
        """Launches each kernel whose device code the driver would finish only at its
        first launch once now, on scratch buffers (see the module docstring), and
        records the seconds as ``device_build_s``.

        Harmless: every argument is a block of the pool that nothing else reads, and a
        kernel is memory-safe on any contents and over any prefix of its work-items, as
        it must be for user data (gather and scatter indices wrap and clamp, integer
        division by zero gives 0, each work-item's indices come from its own ids)."""
        started = time.perf_counter()
        driver = self.backend.driver
        warmed = False
        for function, arg_slots, global_size, local_size in self._launches or ():
            size = driver.warm_up_size(function, global_size, local_size)
            if size is None:
                continue
            scratch = [DeviceBuffer(self.backend.pool, *self._slot_types[s]) for s in arg_slots]
            # the queue is in order: the next kernel's scratch may reuse these blocks
            driver.launch(function, size, local_size, [buffer.handle for buffer in scratch])
            warmed = True
        if warmed:
            driver.synchronize()
        self.info["device_build_s"] = time.perf_counter() - started

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        return self.run(buffers)

    def run(
        self,
        buffers: Sequence[Any],
        around: Callable[[int, Callable[[], None]], None] | None = None,
    ) -> list[Any]:
        """A call (see the module docstring); ``around(index, launch)``, when given, is
        called for each kernel in place of enqueueing it and must call ``launch()`` once:
        ``tcomp inspect --stats --time`` times each kernel this way."""
        if self._launches is None:
            self.build()
            self.info["built_on_first_call"] = True  # after compile: not in its seconds
        if len(buffers) != len(self._params):
            raise TcompArgumentError(
                f"{self.program.name}: expects {len(self._params)} inputs, got {len(buffers)}"
            )
        slots: list[Any] = [None] * len(self._slots)
        for slot, buffer, (shape, dtype, nbytes) in zip(self._params, buffers, self._param_types):
            if not isinstance(buffer, DeviceBuffer) or buffer._pool is not self.backend.pool:
                buffer = self.backend.from_host(np.asarray(buffer, dtype=dtype, order="C"))
            if buffer.dtype != dtype or buffer.nbytes != nbytes:
                raise TcompArgumentError(
                    f"{self.program.name}: an input of shape {buffer.shape} {buffer.dtype} "
                    f"where {shape} {dtype} was compiled for"
                )
            slots[slot] = buffer
        if self._constants is None:
            self._constants = [
                (slot, self.backend.from_host(array)) for slot, array in self._constant_arrays
            ]
        for slot, buffer in self._constants:
            slots[slot] = buffer
        pool = self.backend.pool
        for slot, shape, dtype in self._fresh:
            slots[slot] = DeviceBuffer(pool, shape, dtype)
        launches = self._launches or []
        calls = [  # (index, function, sizes, handles) per kernel
            (index, function, global_size, local_size, [slots[s].handle for s in arg_slots])
            for index, (function, arg_slots, global_size, local_size) in enumerate(launches)
        ]
        # a method, not a nested function: a recursive closure is a reference cycle that
        # would keep this call's temps out of the pool until the garbage collector runs
        self._enqueue(self._blocks, calls, slots, around)
        return [slots[slot] for slot in self._results]

    def _enqueue(
        self,
        block: Block,
        calls: list[tuple[int, Any, int, int | None, list[Any]]],
        slots: list[Any],
        around: Callable[[int, Callable[[], None]], None] | None,
    ) -> None:
        """Enqueues ``block``'s kernels in order (``calls[i]``: kernel ``i``'s launch)."""
        launch = self.backend.driver.launch
        for item in block.items:
            if isinstance(item, Block) and item.flag is not None:
                # a while loop: the host reads its condition before each run (a
                # blocking one-element read: the queue drains once per iteration)
                slot = self._slots[item.flag]
                handle, host = slots[slot].handle, np.zeros(1, self._slot_types[slot][1])
                while True:
                    self.backend.driver.download(handle, host)
                    if not host[0]:
                        break
                    self._enqueue(item, calls, slots, around)
                continue
            if isinstance(item, Block):
                # a scan's body: enqueued count times; its step index lives on the
                # device, so no step waits for the host
                for _ in range(item.count):
                    self._enqueue(item, calls, slots, around)
                continue
            index, function, global_size, local_size, handles = calls[item]
            if around is None:
                launch(function, global_size, local_size, handles)
            else:
                around(index, lambda: launch(function, global_size, local_size, handles))

    def as_text(self) -> str:
        return self.source

    def compile_info(self) -> dict[str, Any]:
        """Seconds per step (``lower_s``, ``render_s``, ``build_s``; ``device_build_s`` is
        the part of ``build_s`` spent in launches at load that make a driver which builds
        at first launch, PoCL, finish each kernel's device code) and where the device
        binary came from: ``cache`` is ``memory``, ``disk``, ``miss`` or ``driver``."""
        return dict(self.info)

    def cache_key_parts(self) -> dict[str, str] | None:
        """What the binary cache keys this program by (the tcomp version, the device,
        driver and compiler, the source's digest); None before it was built."""
        if "cache" not in self.info:
            return None
        from tcomp import __version__

        return {
            "tcomp": f"tcomp {__version__}",
            "compiler": self.backend.driver.compiler_identity(),
            "kernel source": "source " + hashlib.sha256(self.source.encode()).hexdigest(),
        }
