"""The runtime shared by the GPU backends (tcomp.backends.gpu) and the CUDA compiler.

- the buffer pool and the out-of-memory error, on a fake driver (no device);
- on each GPU backend available here (``opencl`` through PoCL in CI, ``cuda``
  on a machine with an NVIDIA GPU): results stay on the device between
  calls, a training loop allocates nothing after its first steps, work-group
  edge sizes, an input used twice, large arrays, the binary disk cache and
  build errors shown with the compiler's log and the numbered source;
- CUDA without a GPU: the source renders, NVRTC/nvcc compile it to a cubin,
  running names what is missing;
- a driver that builds device code at a kernel's first launch (PoCL) gets
  that launch at load, on scratch buffers: on a fake driver, the choice of
  PoCL's warm-up sizes, and on PoCL, nothing is left to build at the first
  call (issue 14).
"""

from __future__ import annotations

import ctypes.util
import shutil
from typing import Any, Sequence

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.backends.gpu.backend import GPUBackend
from tcomp.backends.gpu.driver import DeviceInfo, DeviceOutOfMemory, Driver
from tcomp.backends.gpu.memory import BufferPool, DeviceBuffer, size_class
from tcomp.backends.registry import available_backends, get_backend
from tcomp.ir.errors import TcompBackendError

GPU_BACKENDS = [name for name in ("opencl", "cuda") if name in available_backends()]
F32 = np.float32


class FakeDriver(Driver):
    """Counts allocations; runs out of memory past ``capacity`` bytes."""

    dialect = "opencl"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.info = DeviceInfo("opencl", "fake", "fake 1.0", "OpenCL 1.2", 256, 1 << 15, capacity, True, False)

    def alloc(self, nbytes: int) -> Any:
        if self.used + nbytes > self.capacity:
            raise DeviceOutOfMemory(nbytes)
        self.used += nbytes
        return ("block", nbytes)

    def free(self, handle: Any) -> None:
        self.used -= handle[1]

    def upload(self, handle: Any, host: np.ndarray) -> None:
        pass

    def download(self, handle: Any, host: np.ndarray) -> None:
        host[...] = 0

    def compile(self, source: str, name: str) -> bytes:
        return source.encode()

    def load(self, binary: bytes) -> Any:
        return binary

    def function(self, module: Any, name: str) -> Any:
        return name

    def launch(self, function: Any, global_size: int, local_size: int | None, args: Sequence[Any]) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def memory_info(self) -> tuple[int, int]:
        return self.capacity - self.used, self.capacity


def test_size_classes_round_up_by_at_most_a_quarter():
    assert size_class(0) == 512 and size_class(1) == 512 and size_class(513) == 1024
    for nbytes in (2**20 + 1, 3 * 2**20 + 5, 10**9):
        block = size_class(nbytes)
        assert nbytes <= block <= nbytes * 1.25


def test_pool_reuses_released_blocks():
    pool = BufferPool(FakeDriver(1 << 30))
    first = DeviceBuffer(pool, (1000,), F32)
    handle = first.handle
    del first
    second = DeviceBuffer(pool, (900,), F32)  # the same size class
    assert second.handle is handle
    assert pool.stats.driver_allocations == 1 and pool.stats.reuses == 1


def test_pool_frees_its_cache_before_reporting_out_of_memory():
    driver = FakeDriver(8 << 20)
    pool = BufferPool(driver)
    cached = DeviceBuffer(pool, (1 << 20,), F32)  # 4 MiB, then released to the cache
    del cached
    big = DeviceBuffer(pool, (1536 * 1024,), F32)  # 6 MiB fits only once the cache is freed
    assert pool.stats.trims == 1 and big.nbytes == 6 << 20
    with pytest.raises(TcompBackendError) as error:
        DeviceBuffer(pool, (1 << 20,), F32)
    message = str(error.value)
    assert "out of device memory: asked for 4.0 MiB" in message
    assert "free of 8.0 MiB" in message and "smaller batch" in message


def test_the_disk_cache_gives_binaries_to_a_new_process_and_rebuilds_damaged_ones(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    driver = FakeDriver(1 << 30)
    compiles = []
    original = driver.compile
    driver.compile = lambda source, name: (compiles.append(name), original(source, name))[1]
    source = "__kernel void f(__global float* x) { x[0] = 1.0f; }\n"
    first = GPUBackend("opencl", "opencl", lambda: driver)
    assert first.build(source, "f")[1] == {"cache": "miss"}
    assert first.build(source, "f")[1] == {"cache": "memory"}
    second = GPUBackend("opencl", "opencl", lambda: driver)  # as a new process would
    module, info = second.build(source, "f")
    assert info == {"cache": "disk"} and module == source.encode() and compiles == ["f"]
    for entry in tmp_path.rglob("*"):
        if entry.is_file():
            entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")  # damage every entry
    third = GPUBackend("opencl", "opencl", lambda: driver)
    assert third.build(source, "f") == (source.encode(), {"cache": "miss"})
    assert compiles == ["f", "f"]


@pytest.fixture(params=GPU_BACKENDS or [pytest.param(None, marks=pytest.mark.skip(reason="no GPU backend (opencl or cuda) can run here"))])
def gpu(request: pytest.FixtureRequest) -> GPUBackend:
    return get_backend(request.param)


def test_results_stay_on_the_device_between_calls(gpu):
    uploads = []
    driver = gpu.driver
    original = driver.upload
    driver.upload = lambda handle, host: (uploads.append(host.shape), original(handle, host))
    try:
        f = tcomp.jit(lambda x: x * 2.0, backend=gpu.name)
        g = tcomp.jit(lambda y: y + 1.0, backend=gpu.name)
        x = np.arange(6, dtype=F32).reshape(2, 3)
        y = f(x)
        uploads.clear()
        z = g(y)
        assert isinstance(y._buffer, DeviceBuffer)
        assert uploads == []  # y went in as it was
        np.testing.assert_array_equal(np.asarray(z), x * 2 + 1)
    finally:
        del driver.upload


def test_training_loop_allocates_nothing_after_warm_up(gpu):
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((16, 4)).astype(F32), "b": np.zeros(4, F32)}
    x = rng.standard_normal((32, 16)).astype(F32)
    labels = rng.integers(0, 4, 32).astype(np.int32)

    def loss_fn(p, x, labels):
        return nn.cross_entropy(x @ p["w"] + p["b"], labels)

    @tcomp.jit(backend=gpu.name)
    def step(p, x, labels):
        loss, grads = tcomp.value_and_grad(loss_fn)(p, x, labels)
        return loss, tcomp.tree_map(lambda a, g: a - 0.1 * g, p, grads)

    put = tcomp.jit(lambda v: v, backend=gpu.name)
    x, labels = put(x), put(labels)
    losses = []
    for i in range(30):
        loss, params = step(params, x, labels)
        losses.append(float(loss))
        if i == 3:
            allocations = gpu.pool.stats.driver_allocations
    assert gpu.pool.stats.driver_allocations == allocations
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("n", [0, 1, 7, 127, 129, 1023, 4097])
def test_sizes_that_are_not_a_multiple_of_the_work_group(gpu, n):
    x = np.random.default_rng(n).standard_normal(n).astype(F32)
    f = tcomp.jit(lambda v: (nn.relu(v) * 3.0, v.sum(), v[::-1] + v), backend=gpu.name)
    relu, total, mirrored = f(x)
    np.testing.assert_allclose(np.asarray(relu), np.maximum(x, 0) * 3, rtol=1e-6)
    np.testing.assert_allclose(float(total), x.sum(dtype=np.float64), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(mirrored), x[::-1] + x, rtol=1e-6)


def test_an_input_used_twice_and_outputs_that_alias_nothing(gpu):
    x = np.arange(12, dtype=F32).reshape(3, 4)
    f = tcomp.jit(lambda a, b: (a * b, a, 2.0 * b), backend=gpu.name)
    product, same, doubled = f(x, x)
    np.testing.assert_array_equal(np.asarray(product), x * x)
    np.testing.assert_array_equal(np.asarray(same), x)
    np.testing.assert_array_equal(np.asarray(doubled), 2 * x)


def test_more_than_2_to_the_24_elements(gpu):
    n = 2**24 + 3
    x = np.ones(n, F32)
    x[-1] = 5.0
    y = tcomp.jit(lambda v: v * 2.0 + 1.0, backend=gpu.name)(x)
    host = np.asarray(y)
    assert host.shape == (n,) and host[0] == 3.0 and host[-1] == 11.0 and host[n // 2] == 3.0


def test_binaries_come_back_from_the_disk_cache(gpu):
    """(or from the driver's own cache, where it keeps one)"""
    fresh = GPUBackend(gpu.name, gpu.dialect, lambda: gpu.driver)  # empty in-memory cache
    function = tcomp.jit(lambda v: nn.gelu(v) - 0.25, backend="reference").lower(
        np.zeros(5, F32)
    ).function("optimized")
    first = gpu.compile(function)
    second = fresh.compile(function)
    # a driver with its own cache of builds from source (PoCL) is left to it
    expected = "driver" if gpu.driver.keeps_binary_cache else "disk"
    assert first.compile_info()["cache"] in ("miss", "disk", "memory", "driver")
    assert second.compile_info()["cache"] == expected
    x = np.linspace(-2, 2, 5).astype(F32)
    np.testing.assert_allclose(gpu.to_host(second([x])[0]), gpu.to_host(first([x])[0]))


def test_build_errors_show_the_compiler_log_and_numbered_source(gpu):
    with pytest.raises(TcompBackendError) as error:
        gpu.driver.compile("this is not C;\n", "broken")
    message = str(error.value)
    assert "rejected the generated program 'broken'" in message
    assert "--- compiler log ---" in message and "1 | this is not C;" in message


# -- CUDA without a GPU ----------------------------------------------------------


def test_cuda_source_renders_without_a_gpu():
    f = tcomp.jit(lambda x: nn.softmax(x, axis=-1), backend="cuda")
    source = f.lower(np.zeros((4, 8), F32)).as_text("source")
    assert 'extern "C" __global__' in source


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not installed here")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_cuda_source_compiles_to_a_cubin(arch):
    from tcomp.backends.cuda.compiler import compile_cuda

    f = tcomp.jit(lambda x, w: nn.relu(x @ w).sum(axis=0), backend="cuda")
    source = f.lower(np.zeros((5, 7), F32), np.zeros((7, 3), F32)).as_text("source")
    cubin = compile_cuda(source, "test", arch)
    assert cubin[:4] == b"\x7fELF"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not installed here")
def test_cuda_compile_errors_name_the_program():
    from tcomp.backends.cuda.compiler import compile_cuda

    with pytest.raises(TcompBackendError, match="rejected the generated program 'bad'"):
        compile_cuda('extern "C" __global__ void f() { nonsense }\n', "bad", "sm_90")


@pytest.mark.skipif(
    ctypes.util.find_library("cuda") is not None, reason="an NVIDIA driver is installed here"
)
def test_running_cuda_without_a_driver_names_what_is_missing():
    f = tcomp.jit(lambda x: x + 1.0, backend="cuda")
    with pytest.raises(TcompBackendError, match="needs an NVIDIA GPU driver"):
        f(np.ones(3, F32))


def test_float16_conversions_match_numpy_bit_for_bit(gpu):
    """float16 is stored as its bits and converted by integer C helpers: every half widens
    exactly, and floats (random bit patterns, ties, subnormals, overflow) round as numpy."""
    halves = np.arange(2**16, dtype=np.uint16).view(np.float16)
    widen = tcomp.jit(lambda h: h.astype(np.float32), backend=gpu.name)
    np.testing.assert_array_equal(
        np.asarray(widen(halves)).view(np.uint32), halves.astype(np.float32).view(np.uint32)
    )
    rng = np.random.default_rng(16)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and out-of-range values on purpose
        floats, expected = _conversion_inputs(rng, halves)
    narrow = tcomp.jit(lambda f: f.astype(np.float16), backend=gpu.name)
    got = np.asarray(narrow(floats))
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint16), expected[~nan].view(np.uint16))


def _conversion_inputs(rng: np.random.Generator, halves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    floats = np.concatenate([
        rng.integers(0, 2**32, 2**18, dtype=np.uint64).astype(np.uint32).view(np.float32),
        halves.astype(np.float32) * np.float32(1 + 2**-11),  # exactly between two halves
        np.float32([65504, 65520, 65519.99, 2**-24, 2**-25, 2**-25 * 1.0001, 1e-8, -0.0, np.inf]),
    ])
    return floats, floats.astype(np.float16)


def test_float16_arithmetic_rounds_each_operation_as_numpy(gpu):
    rng = np.random.default_rng(61)
    a, b = (rng.standard_normal(4096).astype(np.float16) for _ in range(2))
    f = tcomp.jit(lambda x, y: (x * y + x) / (y - 3.0), backend=gpu.name)
    expected = (a * b + a) / (b - np.float16(3.0))
    np.testing.assert_array_equal(np.asarray(f(a, b)).view(np.uint16), expected.view(np.uint16))


def test_pycuda_driver_prepares_every_function_it_launches():
    """A prepared pycuda function was once remembered by id(): a new function that reused a
    dead one's id was launched unprepared (seen on the H100). Checked here with stand-ins."""
    from tcomp.backends.cuda.pycuda_driver import PyCudaDriver

    class Function:
        def prepare(self, formats):
            self.formats = formats

        def prepared_async_call(self, grid, block, stream, *args):
            assert self.formats == "P" * len(args), "launched before prepare()"

    driver = PyCudaDriver.__new__(PyCudaDriver)  # no device: only the launch bookkeeping
    driver._prepared, driver.stream = {}, None
    for _ in range(50):  # fresh objects, whose ids CPython reuses
        driver.launch(Function(), 1000, None, [1, 2, 3])


def test_work_groups_above_the_device_limit_are_a_clear_error():
    driver = FakeDriver(1 << 30)
    driver.info = DeviceInfo("opencl", "tiny", "fake 1.0", "OpenCL 1.2", 64, 1 << 15, 1 << 30, True, False)
    backend = GPUBackend("opencl", "opencl", lambda: driver)
    function = tcomp.jit(lambda x: nn.softmax(x, axis=-1), backend="reference").lower(
        np.zeros((4, 1000), F32)
    ).function("optimized")
    with pytest.raises(TcompBackendError, match="needs work-groups of 256, above the device's limit of 64"):
        backend.compile(function)


class LazyFakeDriver(FakeDriver):
    """A fake driver that, like PoCL, would build each function at its first launch;
    records every launch as (function, global size, local size, args)."""

    def __init__(self) -> None:
        super().__init__(1 << 30)
        self.launches: list[tuple[Any, int, int | None, list[Any]]] = []

    def warm_up_size(self, function: Any, global_size: int, local_size: int | None) -> int | None:
        if any(launched[0] == function for launched in self.launches):
            return None
        return 1

    def launch(
        self, function: Any, global_size: int, local_size: int | None, args: Sequence[Any]
    ) -> None:
        self.launches.append((function, global_size, local_size, list(args)))


def test_kernels_that_build_at_first_launch_are_launched_at_load_on_scratch_buffers():
    driver = LazyFakeDriver()
    backend = GPUBackend("opencl", "opencl", lambda: driver)
    function = tcomp.jit(lambda x: nn.softmax(x * 2.0, axis=-1), backend="reference").lower(
        np.zeros((4, 1000), F32)
    ).function("optimized")
    executable = backend.compile(function)
    kernels = [launch.function for launch in executable._plan]
    assert [launched[:2] for launched in driver.launches] == [(name, 1) for name in kernels]
    assert executable.compile_info()["device_build_s"] > 0
    assert backend.pool.stats.bytes_in_use == 0  # the scratch buffers went back to the pool
    x = backend.from_host(np.ones((4, 1000), F32))
    driver.launches.clear()
    executable([x])
    assert [launched[:3] for launched in driver.launches] == [
        (launch.function, launch.global_size, launch.local_size) for launch in executable._plan
    ]


@pytest.mark.parametrize(
    "width, group, size",
    [(1, 1, 1), (1000, 128, 128), (65534, 2, 2), (65535, 128, 65536), (983040, 128, 65536),
     (70000, 250, 65750)],
)
def test_pocl_warm_up_launches_are_the_smallest_with_the_same_grid_kind(width, group, size):
    from tcomp.backends.opencl.driver import POCL_SMALL_GRID, pocl_warm_up_size

    assert pocl_warm_up_size(width, group) == size
    assert size % group == 0 and (size < POCL_SMALL_GRID) == (width < POCL_SMALL_GRID)


def pocl_cpu_driver() -> Any:
    """The opencl backend's driver when it is PoCL's CPU device, else a skip."""
    if "opencl" not in GPU_BACKENDS:
        pytest.skip("the opencl backend cannot run here")
    driver = get_backend("opencl").driver
    is_cpu = driver.device.type & driver.cl.device_type.CPU
    if "pocl" not in driver.info.platform.lower() or not is_cpu:
        pytest.skip("the OpenCL device is not PoCL's CPU device")
    assert driver.builds_at_first_launch
    return driver


def test_pocl_kernels_are_built_at_load_and_the_first_call_builds_nothing(monkeypatch):
    driver = pocl_cpu_driver()
    launched: list[str] = []
    original = driver.launch
    monkeypatch.setattr(driver, "launch", lambda function, *rest: (
        launched.append(function[0].function_name), original(function, *rest)))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 7)).astype(F32)
    indices = rng.integers(-300, 300, 5000).astype(np.int32)
    divisors = rng.integers(-3, 4, 5000).astype(np.int32)  # zeros too

    def f(x, indices, divisors):
        rows = tcomp.take(x, indices, axis=0)
        return nn.softmax(rows, axis=-1).sum(axis=0), tcomp.floor_divide(indices, divisors)

    jitted = tcomp.jit(f, backend="opencl")
    lowered = jitted.lower(x, indices, divisors)
    assert "device_build_s" in lowered.compile_info()
    executable = lowered._program.compiled()
    assert launched == [launch.function for launch in executable._plan]  # each once, at load
    for function, _, global_size, local_size in executable._launches:
        assert driver.warm_up_size(function, global_size, local_size) is None
    total, quotients = jitted(x, indices, divisors)
    expected = np.asarray(tcomp.jit(f, backend="reference")(x, indices, divisors)[0])
    np.testing.assert_allclose(np.asarray(total), expected, rtol=1e-5)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(np.asarray(quotients), np.floor_divide(indices, divisors))


def test_a_rejected_program_is_blamed_on_tcomp_unless_the_toolchain_refuses_every_program():
    from tcomp.backends.gpu.driver import build_error_message

    ours = build_error_message("opencl", "step", "error: use of undeclared identifier 'x'",
                               "x;")
    assert "a tcomp bug" in ours and "undeclared identifier" in ours and "1 | x;" in ours
    # PoCL whose LLVM does not know the (virtual) CPU refuses to build any program
    theirs = build_error_message("opencl", "step", "error: unknown target CPU 'generic'", "x;")
    assert "a tcomp bug" not in theirs
    assert "does not recognise this CPU" in theirs and "unknown target CPU" in theirs


def test_a_pocl_that_builds_nothing_makes_opencl_unavailable_with_the_reason(monkeypatch):
    cl = pytest.importorskip("pyopencl")
    from tcomp.backends.opencl import driver as opencl_driver
    from tcomp.ir.errors import TcompBackendError

    try:
        devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    except cl.Error:
        devices = []
    if not any(opencl_driver.builds_at_first_launch(d) for d in devices):
        pytest.skip("no PoCL CPU device here (pip install 'pyopencl[pocl]' gives one)")
    # a compiler that rejects the one-line probe, as PoCL does for a CPU its LLVM does not
    # know; on such a machine the real probe fails the same way
    monkeypatch.setattr(opencl_driver, "PROBE_SOURCE", "__kernel void tcomp_probe( {")
    with pytest.raises(TcompBackendError, match="builds no program on this machine"):
        opencl_driver.OpenCLDriver()
