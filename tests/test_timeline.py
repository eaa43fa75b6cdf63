"""``tcomp.profile(path)``: timelines of jitted calls in Chrome's Trace Event Format.

The file is valid for Perfetto and chrome://tracing (see ``trace_checks.py``);
each call is a span on its thread's host track, with its first call's trace,
graph passes and compile inside; on compiled backends each call has a device
span holding one span per kernel, inside the call's span; on llvm the kernels
of a matmul-heavy call add up to its device time (within 10%); the set of
keys of each kind of event is pinned by ``tests/golden/timeline_keys.txt``
(regenerate with ``TCOMP_UPDATE_GOLDEN=1`` and review the diff).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from trace_checks import check_trace, containing, end, spans, within

import tcomp
from tcomp.backends.registry import available_backends
from tcomp.frontend.profile import backend_inputs, profiled_executable
from tcomp.frontend.timeline import now_ns, recording
from tcomp.ir.errors import TcompArgumentError, TcompBackendError

GOLDEN = Path(__file__).parent / "golden" / "timeline_keys.txt"
UPDATE = os.environ.get("TCOMP_UPDATE_GOLDEN") == "1"
COMPILED = [name for name in ("llvm", "opencl") if name in available_backends()]


def two_layers(x, w1, w2):
    h = tcomp.maximum(x @ w1, 0.0)  # k0: the first matmul and its relu
    return tcomp.tanh(h @ w2)


def small_args(rows: int = 6):
    rng = np.random.default_rng(1)
    return (
        rng.standard_normal((rows, 4)).astype(np.float32),
        rng.standard_normal((4, 8)).astype(np.float32),
        rng.standard_normal((8, 3)).astype(np.float32),
    )


def record(backend: str, calls: int = 2, args=None, fn=two_layers) -> tuple[dict, list]:
    """Two calls (the first compiles) of a fresh jit of ``fn`` inside tcomp.profile: the
    checked trace and the results."""
    jitted = tcomp.jit(fn, backend=backend)
    args = small_args() if args is None else args
    with tcomp.profile() as timeline:
        results = [np.asarray(jitted(*args)) for _ in range(calls)]
    return check_trace(json.dumps(timeline.to_json())), results


def event_kinds(data: dict) -> dict[str, dict[str, list[str]]]:
    """Per kind of event (``X call``, ``M thread_name`` ...): its keys and its args' keys."""
    kinds: dict[str, dict[str, list[str]]] = {}
    for event in data["traceEvents"]:
        kind = f"{event['ph']} {event['cat'] if event['ph'] == 'X' else event['name']}"
        keys = {"keys": sorted(event), "args": sorted(event["args"])}
        assert kinds.setdefault(kind, keys) == keys, f"{kind} events differ in keys"
    return dict(sorted(kinds.items()))


# ------------------------------------------------------------------------- the file


def test_the_file_is_written_and_valid(tmp_path):
    path = tmp_path / "trace.json"
    jitted = tcomp.jit(two_layers, backend="llvm")
    with tcomp.profile(path) as timeline:
        assert recording() is timeline
        jitted(*small_args())
    assert recording() is None
    data = check_trace(path.read_text())
    assert data["traceEvents"] == json.loads(json.dumps(timeline.to_json()))["traceEvents"]
    jitted(*small_args())  # outside the block: not recorded
    assert len(timeline.events) == len(data["traceEvents"])


def test_the_file_is_written_when_the_block_raises(tmp_path):
    path = tmp_path / "trace.json"
    jitted = tcomp.jit(two_layers, backend="llvm")
    with pytest.raises(ZeroDivisionError):
        with tcomp.profile(path):
            jitted(*small_args())
            1 / 0
    assert len(spans(check_trace(path.read_text()), "call")) == 1
    assert recording() is None


def test_a_failing_call_is_recorded_with_its_error():
    jitted = tcomp.jit(two_layers, backend="llvm")
    bad = (np.zeros((6, 5), np.float32), *small_args()[1:])  # 5 columns against 4 rows
    with tcomp.profile() as timeline:
        with pytest.raises(tcomp.TcompError):
            jitted(*bad)
    (call,) = spans(timeline.to_json(), "call")
    assert "matmul" in call["args"]["error"]


def test_one_block_records_at_a_time(tmp_path):
    with tcomp.profile():
        with pytest.raises(TcompArgumentError, match="one records at a time"):
            with tcomp.profile():
                pass
    with pytest.raises(TcompArgumentError, match="does not exist"):
        with tcomp.profile(tmp_path / "no such folder" / "trace.json"):
            pass


def test_event_keys_match_the_golden_file():
    llvm, _ = record("llvm")
    reference, _ = record("reference")
    kinds = event_kinds(llvm)
    for kind, keys in event_kinds(reference).items():  # reference always runs the passes
        assert kinds.setdefault(kind, keys) == keys, kind
    kinds = dict(sorted(kinds.items()))
    text = "".join(
        f"{kind}: {' '.join(keys['keys'])}; args: {' '.join(keys['args'])}\n"
        for kind, keys in kinds.items()
    )
    if UPDATE:
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), f"no golden file {GOLDEN}: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert text == GOLDEN.read_text(), (
        "the keys of the timeline's events changed; if intended, regenerate with "
        "TCOMP_UPDATE_GOLDEN=1 and review the diff (and the README's description)"
    )


# ------------------------------------------------------------------------- the spans


@pytest.mark.parametrize("backend", COMPILED)
def test_kernel_spans_lie_within_their_calls(backend):
    data, results = record(backend)
    calls = spans(data, "call")
    devices = spans(data, "device")
    kernels = spans(data, "kernel")
    assert len(calls) == 2 and len(devices) == 2
    host_pid = calls[0]["pid"]
    assert all(d["pid"] != host_pid for d in devices)
    for device in devices:
        assert len(containing(device, calls)) == 1
    names = [k["name"] for k in kernels]
    assert len(names) == 2 * len(set(names)) and names[0] == "k0"
    for kernel in kernels:
        (device,) = containing(kernel, devices)
        assert kernel["pid"] == device["pid"] and kernel["tid"] == device["tid"]
        assert within(kernel, containing(device, calls)[0])
    first = [k for k in kernels if k["name"] == "k0"][0]["args"]
    assert first["ops"][0].endswith(" matmul")  # %3: the parameters are %0, %1, %2
    (line,) = first["lines"]
    assert line.endswith(f"test_timeline.py:{two_layers.__code__.co_firstlineno + 1}")
    assert first["bytes_read"] == (6 * 4 + 4 * 8) * 4 and first["iterations"] > 0
    expected = np.tanh(np.maximum(small_args()[0] @ small_args()[1], 0) @ small_args()[2])
    for result in results:  # the profiled build computes what the ordinary one does
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_the_first_call_shows_its_trace_and_compile_and_the_second_does_not():
    data, _ = record("llvm")
    first, second = spans(data, "call")
    assert first["args"]["compiled_now"] and not second["args"]["compiled_now"]
    inside_first = {
        e["cat"]
        for e in spans(data)
        if e["pid"] == first["pid"] and within(e, first) and e is not first
    }
    assert {"trace", "compile", "compile.step", "transfer", "run"} <= inside_first
    ordinary = [e for e in spans(data, "compile") if e["args"]["build"] == "ordinary"][0]
    # the graph passes ran in this call, unless an earlier compile of the same traced graph
    # (this process, or the disk cache) was found by it
    assert ("passes" in inside_first) != ("found by the traced graph" in ordinary["name"])
    inside_second = {
        e["cat"]
        for e in spans(data)
        if e["pid"] == second["pid"] and within(e, second) and e is not second
    }
    assert inside_second == {"transfer", "run"}
    compiles = [e for e in spans(data, "compile") if within(e, first)]
    builds = sorted(e["args"]["build"] for e in compiles)
    assert builds == ["ordinary", "profiled"]  # llvm: the profiled build is its own compile
    for compile_span in compiles:
        steps = [e for e in spans(data, "compile.step") if within(e, compile_span)]
        assert steps and sum(s["dur"] for s in steps) <= compile_span["dur"] + 1e-3


def test_reference_calls_have_a_run_span_and_no_device_track():
    data, _ = record("reference")
    assert not spans(data, "kernel") and not spans(data, "device")
    assert len(spans(data, "run")) == 2
    assert {e["pid"] for e in spans(data)} == {spans(data, "call")[0]["pid"]}


def test_opencl_inputs_are_copies_to_the_device():
    if "opencl" not in available_backends():
        pytest.skip("no OpenCL device here")
    data, _ = record("opencl")
    copies = spans(data, "transfer")
    assert [c["name"] for c in copies] == ["inputs to device"] * 2
    assert copies[0]["args"] == {"arrays": 3, "copied": 3, "bytes_copied": 4 * (24 + 32 + 24)}
    devices = {e["pid"]: e for e in data["traceEvents"] if e["name"] == "process_name"}
    assert devices[spans(data, "device")[0]["pid"]]["args"]["name"].startswith("opencl: ")


def test_calls_from_two_threads_get_a_track_each():
    jitted = tcomp.jit(two_layers, backend="llvm")
    jitted(*small_args())  # compiled before: the threads only run
    # both threads alive until both have called (a finished thread's id may be reused)
    barrier = threading.Barrier(2)

    def calls() -> None:
        jitted(*small_args())
        barrier.wait()
        for _ in range(2):
            jitted(*small_args())

    with tcomp.profile() as timeline:
        threads = [threading.Thread(target=calls) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    data = check_trace(json.dumps(timeline.to_json()))  # nesting holds on every track
    calls = spans(data, "call")
    assert len(calls) == 6 and len({c["tid"] for c in calls}) == 2
    devices = sorted(spans(data, "device"), key=lambda e: e["ts"])
    assert all(end(a) <= b["ts"] + 1e-3 for a, b in zip(devices, devices[1:]))


# ------------------------------------------------------------------------- the criterion


def three_matmuls(x, w1, w2, w3):
    h = tcomp.maximum(x @ w1, 0.0)
    h = tcomp.maximum(h @ w2, 0.0)
    return h @ w3


def test_llvm_kernel_spans_add_up_to_the_device_time_of_a_matmul_heavy_call():
    rng = np.random.default_rng(3)
    args = [rng.standard_normal((128, 256)).astype(np.float32)]
    args += [rng.standard_normal((256, 256)).astype(np.float32) / 16 for _ in range(3)]
    data, _ = record("llvm", calls=4, args=args, fn=three_matmuls)
    kernels = spans(data, "kernel")
    for device in spans(data, "device"):
        inside = [k for k in kernels if within(k, device)]
        assert len(inside) == device["args"]["kernels"] == 3
        total = sum(k["dur"] for k in inside)
        assert abs(total - device["dur"]) <= 0.1 * device["dur"], (total, device["dur"])


def test_the_profiled_llvm_build_says_when_its_native_call_began():
    jitted = tcomp.jit(two_layers, backend="llvm")
    program, leaves = jitted._program_for(small_args(), {}, frozenset())
    executable = profiled_executable(program)
    buffers = backend_inputs(program.backend, leaves)
    before = now_ns()
    outputs, per_kernel, start, took = executable.timed_call(buffers)
    after = now_ns()
    assert before <= start <= start + took <= after  # the same clock, read inside the call
    assert len(per_kernel) == len(executable.program.kernels)
    assert 0 <= sum(per_kernel) <= took * 1e-9 + 1e-12  # float rounding
    np.testing.assert_allclose(outputs[0], np.asarray(jitted(*small_args())), rtol=1e-6)
    with pytest.raises(TcompBackendError, match="compiled without profiling"):
        program.compiled().timed_call(buffers)
