"""The ``tcomp`` command line: inspect, check, backends, errors, ``python -m tcomp`` (``opt`` and ``cache`` have files of their own).

Commands run in-process through ``tcomp.cli.main`` (fast); one test starts
``python -m tcomp --help`` in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import FIXTURES, assert_one_line_error, in_fixtures, run  # noqa: F401

from tcomp.backends import registry
from tcomp.backends.base import Backend, Executable
from tcomp.cli import main
from tcomp.commands.check import HEADER, compare_leaf, tolerance_for
from tcomp.ir.text import parse_function

MODEL = "model.py"  # the tests run in FIXTURES, so file:line locations read "model.py":N
LOSS = ["inspect", "model.py:loss", "--args", "model.py:make_args"]
PREDICT = ["inspect", "model.py:predict", "--arg", "x=f32[2,3]", "--arg", "w=f32[3,5]"]

PREDICT_TRACED = """\
func @predict(%0: f32[2,3], %1: f32[3,5]) -> (f32[2,5]) {
  %2: f32[2,5] = matmul(%0, %1)
  %3: f32[] = constant() {value=dense<f32[] 0.0>}
  %4: f32[1,1] = reshape(%3) {shape=(1, 1)}
  %5: f32[2,5] = broadcast_to(%4) {shape=(2, 5)}
  %6: bool[2,5] = le(%2, %5)
  %7: f32[2,5] = select(%6, %5, %2)
  return %7
}
"""



# ---------------------------------------------------------------------------- inspect


def test_inspect_traced_is_the_default_stage_and_stable(capsys):
    code, out, err = run(capsys, *PREDICT)
    assert (code, out, err) == (0, PREDICT_TRACED, "")
    assert run(capsys, *PREDICT, "--stage", "traced")[1] == PREDICT_TRACED


def test_inspect_loc_shows_the_user_file(capsys):
    code, out, _ = run(capsys, *PREDICT, "--loc")
    assert code == 0
    assert '%2: f32[2,5] = matmul(%0, %1)  loc("model.py":27)' in out
    assert all("loc(" in line for line in out.splitlines() if " = " in line)


def test_inspect_stages_of_a_pytree_model(capsys):
    code, traced, _ = run(capsys, *LOSS, "--stage", "traced")
    assert code == 0 and traced.startswith("func @loss(") and "loc(" not in traced
    code, optimized, _ = run(capsys, *LOSS, "--stage", "optimized")
    assert code == 0 and optimized.startswith("func @loss(") and optimized != traced
    code, kernels, _ = run(capsys, *LOSS, "--stage", "kernels")
    assert code == 0 and kernels.startswith("program @loss(") and "kernel k0(" in kernels
    code, source, _ = run(capsys, *LOSS, "--stage", "source", "--backend", "llvm")
    assert code == 0 and "define " in source


def test_inspect_stats_table(capsys):
    code, out, _ = run(capsys, *PREDICT, "--stage", "kernels", "--stats")
    assert code == 0
    table = out.split("\n\n")[-1]
    assert table == (
        "kernel  ops  bytes read  bytes written  iterations\n"
        "k0        4          84             40          30\n"
        "total     4          84             40          30\n"
    )


def test_inspect_reference_backend_graph_stages(capsys):
    code, out, _ = run(capsys, *PREDICT, "--backend", "reference", "--stage", "optimized")
    assert code == 0 and out.startswith("func @predict(")


def test_inspect_scalar_and_dtypes_in_arg_specs(capsys, tmp_path):
    source = tmp_path / "f.py"
    source.write_text("def f(a, b, c):\n    return a * 2.0 + b + c\n")
    code, out, _ = run(
        capsys, "inspect", f"{source}:f", "--arg", "a=f64[3]", "--arg", "b=f64[]",
        "--arg", "c=f64[1, 3]",
    )
    assert code == 0 and out.startswith("func @f(%0: f64[3], %1: f64[], %2: f64[1,3])")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["inspect", "nope.py:f", "--arg", "x=f32[1]"], ["nope.py: no such file"]),
        (["inspect", "model.py:missing"], ["no function 'missing'"]),
        (["inspect", "model.py:NOT_A_FUNCTION"], ["'NOT_A_FUNCTION' is not a function"]),
        (["inspect", "model.py"], ["expected FILE.py:NAME"]),
        (["inspect", "model.py:predict", "--arg", "x=f32[2,3"], ["bad --arg 'x=f32[2,3'"]),
        (["inspect", "model.py:predict", "--arg", "x=f8[2]"], ["unknown dtype 'f8'"]),
        (["inspect", "model.py:predict", "--arg", "x=f32[2,3]"], ["missing --arg", "'w'"]),
        ([*PREDICT, "--arg", "z=f32[1]"], ["no such parameter"]),
        ([*PREDICT, "--stage", "bogus"], ["unknown stage 'bogus'"]),
        ([*PREDICT, "--stage", "grad"], ["--stage grad: 'predict' returns f32[2,5]", "float scalar"]),
        ([*PREDICT, "--backend", "metal"], ["unknown backend 'metal'"]),
        ([*PREDICT, "--backend", "reference", "--stage", "kernels"], ["no kernel stage"]),
        (["inspect", "model.py:predict", "--arg", "x=f32[2,3]", "--arg", "w=f32[4,5]"],
         ["matmul", "model.py:27"]),
        ([*LOSS[:2], "--args", "model.py:predict"], ["--args model.py:predict"]),
    ],
)
def test_inspect_errors_are_one_line(capsys, argv, fragments):
    code, out, err = run(capsys, *argv)
    assert out == ""
    assert_one_line_error(code, err, "tcomp inspect: error: ", *fragments)


def test_inspect_stage_grad_is_the_traced_backward_program(capsys):
    code, out, err = run(capsys, *LOSS, "--stage", "grad")
    assert code == 0 and err == ""
    function = parse_function(out)
    assert function.name == "grad_loss"
    # gradients w.r.t. params (a dict: b1, b2, w1, w2): one output per leaf, their shapes
    assert [str(v.type) for v in function.outputs] == ["f32[8]", "f32[3]", "f32[4,8]", "f32[8,3]"]
    ops = [line.split(" = ")[1].split("(")[0] for line in out.splitlines() if " = " in line]
    forward_ops = run(capsys, *LOSS)[1].count(" = ")
    assert len(ops) > forward_ops and "transpose" in ops  # matmul's backward
    assert "select" in ops and "stop_gradient" in ops  # relu's and log-softmax's


def test_inspect_errors_in_the_user_file(capsys, tmp_path):
    source = tmp_path / "user.py"
    source.write_text("def f(x):\n    return x\n\n\ndef make():\n    return [1]\n")
    code, _, err = run(capsys, "inspect", f"{source}:f", "--args", f"{source}:make")
    assert_one_line_error(code, err, "returned a list; return a tuple of arguments")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    code, _, err = run(capsys, "inspect", f"{broken}:f")
    assert_one_line_error(code, err, "SyntaxError")


def test_traceback_flag_shows_the_traceback(capsys):
    code, _, err = run(capsys, "--traceback", *PREDICT[:-1], "w=f32[4,5]")
    assert code == 2 and "Traceback" in err and "TcompShapeError" in err


# ---------------------------------------------------------------------------- inspect --format

UPDATE_GOLDEN = os.environ.get("TCOMP_UPDATE_GOLDEN") == "1"
LOSS_DOT_GOLDEN = FIXTURES / "loss_kernels.dot"


def graph_op_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " = " in line]


def test_inspect_json_graph_stages(capsys):
    for stage in ("traced", "optimized"):
        code, out, err = run(capsys, *LOSS, "--stage", stage, "--format", "json", "--loc")
        assert (code, err) == (0, "")
        data = json.loads(out)
        assert list(data) == ["function", "params", "nodes", "outputs"]
        assert data["function"] == "loss" and len(data["params"]) == 6
        assert data["params"][2] == {"name": "%2", "type": "f32[4,8]"}
        text = run(capsys, *LOSS, "--stage", stage)[1]
        assert len(data["nodes"]) == len(graph_op_lines(text))
        for node in data["nodes"]:
            assert list(node) == ["id", "op", "inputs", "attrs", "type", "loc"]
            assert node["loc"] in ("model.py:11", "model.py:12")
        assert data["outputs"] == [text.splitlines()[-2].split()[-1]]
        assert run(capsys, *LOSS, "--stage", stage, "--format", "json", "--loc")[1] == out


def test_inspect_json_nodes_match_the_text_ir(capsys):
    code, out, _ = run(capsys, *PREDICT, "--format", "json")
    assert code == 0
    nodes = json.loads(out)["nodes"]
    assert nodes[0] == {
        "id": "%2", "op": "matmul", "inputs": ["%0", "%1"], "attrs": {}, "type": "f32[2,5]",
        "loc": "model.py:27",
    }
    assert nodes[1]["attrs"] == {"value": "dense<f32[] 0.0>"}
    assert nodes[2]["attrs"] == {"shape": [1, 1]}
    assert [n["op"] for n in nodes] == [line.split(" = ")[1].split("(")[0]
                                        for line in graph_op_lines(PREDICT_TRACED)]


def test_inspect_json_kernels_and_source(capsys):
    code, out, _ = run(capsys, *LOSS, "--stage", "kernels", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {"program", "buffers", "kernels"} <= set(data) and data["program"] == "loss"
    kernels_text = run(capsys, *LOSS, "--stage", "kernels")[1]
    assert [k["name"] for k in data["kernels"]] == re.findall(r"kernel (k\d+)\(", kernels_text)
    k0 = data["kernels"][0]
    assert list(k0) == ["name", "ops", "args", "schedule"]
    assert k0["ops"][0] == "%6 matmul" and k0["args"][-1] == {
        "name": "%t14", "access": "out", "type": "f32[128]"
    }
    assert {"name": "%t14", "kind": "temp", "type": "f32[16,8]"} in data["buffers"]
    assert list(k0["schedule"]) == ["parallel", "vector", "unroll", "tile", "columns"]
    code, out, _ = run(capsys, *PREDICT, "--stage", "source", "--format", "json")
    data = json.loads(out)
    assert list(data) == ["backend", "source"] and data["backend"] == "llvm"
    assert "define " in data["source"]


def dot_clusters(out: str) -> dict[str, list[str]]:
    """cluster name -> the node ids (n6, ...) declared inside it."""
    clusters = {}
    for match in re.finditer(r"subgraph cluster_(k\d+) \{(.*?)\n  \}", out, re.S):
        clusters[match.group(1)] = re.findall(r"^\s+(n\d+) \[", match.group(2), re.M)
    return clusters


def test_inspect_dot_kernels_clusters_and_golden(capsys):
    code, out, err = run(capsys, *LOSS, "--stage", "kernels", "--format", "dot")
    assert (code, err) == (0, "") and out.startswith('digraph "loss" {\n')
    program = json.loads(run(capsys, *LOSS, "--stage", "kernels", "--format", "json")[1])
    clusters = dot_clusters(out)
    assert list(clusters) == [k["name"] for k in program["kernels"]]
    for kernel in program["kernels"]:
        ids = ["n" + op.split()[0][1:] for op in kernel["ops"]]
        assert clusters[kernel["name"]] == ids
        assert f'label="{kernel["name"]}";' in out
    assert 'n4 -> n6 [label="f32[16,4]"];' in out and 'n52 -> return [label="f32[]"];' in out
    colours = re.findall(r'fillcolor="(#[0-9a-f]{6})"', out)
    assert len(set(colours)) == len(colours) == 3
    assert run(capsys, *LOSS, "--format", "dot")[1] == out  # kernels: the default for dot
    if UPDATE_GOLDEN:
        LOSS_DOT_GOLDEN.write_text(out)
    assert LOSS_DOT_GOLDEN.exists(), "no golden file: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert out == LOSS_DOT_GOLDEN.read_text(), (
        "the DOT of loss changed; if intended, regenerate with TCOMP_UPDATE_GOLDEN=1"
    )


def test_inspect_dot_graph_stages_have_no_clusters(capsys):
    code, out, _ = run(capsys, *PREDICT, "--stage", "traced", "--format", "dot")
    assert code == 0 and out.startswith('digraph "predict" {') and "subgraph" not in out
    assert out.count("shape=box") == len(graph_op_lines(PREDICT_TRACED))
    assert 'n0 -> n2 [label="f32[2,3]"];' in out and 'n4 -> n5 [label="f32[1,1]"];' in out
    code, out, _ = run(capsys, *PREDICT, "--backend", "reference", "--format", "dot")
    assert code == 0 and "subgraph" not in out  # no kernels: the optimized graph
    code, out, _ = run(capsys, *LOSS, "--stage", "grad", "--format", "dot")
    assert code == 0 and out.startswith('digraph "grad_loss" {') and "subgraph" not in out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not on PATH")
def test_inspect_svg(capsys):
    code, out, _ = run(capsys, *LOSS, "--format", "svg")
    assert code == 0 and "<svg" in out and "cluster_k0" in out


def test_inspect_svg_without_graphviz_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = run(capsys, *PREDICT, "--format", "svg")
    assert out == ""
    assert_one_line_error(
        code, err, "tcomp inspect: error: ", "apt install graphviz", "brew install graphviz",
        "conda install graphviz", "--format dot",
    )


def time_table(out: str) -> list[list[str]]:
    lines = out.split("\n\n")[-1].splitlines()
    assert lines[0].split("  ")[-1].strip() == "time (us)"
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:-1]]


def test_inspect_time_llvm_per_kernel(capsys):
    code, out, _ = run(capsys, *LOSS, "--stage", "kernels", "--stats", "--time",
                       "--backend", "llvm", "--repeats", "3")
    assert code == 0
    rows = time_table(out)
    assert [row[0] for row in rows] == ["k0", "k1", "k2", "total"]
    times = [float(row[-1]) for row in rows]  # one time per kernel (a profiled build)
    assert all(t >= 0 for t in times)
    assert times[-1] == pytest.approx(sum(times[:-1]), abs=0.11)  # rounded to 0.1 us
    note = out.splitlines()[-1]
    assert "median of 3 calls per kernel" in note and "clock_gettime around each" in note
    whole = float(re.search(r"a whole call took ([0-9.]+) us", note).group(1))
    assert times[-1] <= whole * 1.5 + 50  # medians of kernels inside the calls (loose)


def test_inspect_time_opencl_per_kernel(capsys):
    if "opencl" not in registry.available_backends():
        pytest.skip("no OpenCL device here")
    code, out, _ = run(capsys, *LOSS, "--stats", "--time", "--backend", "opencl",
                       "--repeats", "3", "--format", "text")
    assert code == 0
    rows = time_table(out)
    assert [row[0] for row in rows] == ["k0", "k1", "k2", "total"]
    assert all(float(row[-1]) > 0 for row in rows)
    assert "median of 3 launches per kernel" in out.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        ([*PREDICT, "--format", "xml"], ["unknown format 'xml'", "text, json, dot, svg"]),
        ([*PREDICT, "--format", "dot", "--stage", "source"], ["--format dot draws graphs"]),
        ([*PREDICT, "--format", "json", "--stats"], ["--stats prints a table"]),
        ([*PREDICT, "--time"], ["--time adds a column", "--stats"]),
        ([*PREDICT, "--stats", "--time", "--repeats", "0"], ["--repeats 0"]),
        ([*PREDICT, "--backend", "reference", "--stats", "--time"], ["no kernel stage"]),
    ],
)
def test_inspect_format_and_time_errors(capsys, argv, fragments):
    code, out, err = run(capsys, *argv)
    assert out == ""
    assert_one_line_error(code, err, "tcomp inspect: error: ", *fragments)


# ---------------------------------------------------------------------------- check

CHECK_LOSS = ["check", "model.py:loss", "--args", "model.py:make_args"]
CHECK_HEADER = "backend  outputs  max abs err  max rel err  tolerance                  result"


class _ShiftedExecutable(Executable):
    """The reference backend's program, with 1.0 added to every float output."""

    def __init__(self, inner: Executable, backend: Backend) -> None:
        self._inner, self._backend = inner, backend

    def __call__(self, buffers):
        hosts = [self._backend.to_host(b) for b in self._inner(buffers)]
        shifted = [h + np.ones((), h.dtype) if h.dtype.kind == "f" else h for h in hosts]
        return [self._backend.from_host(h) for h in shifted]


class _FakeBackend(Backend):
    """``wrong``: the reference backend off by 1.0; ``broken``: fails to compile."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._reference = registry.get_backend("reference")

    def compile(self, function):
        if self.name == "broken":
            raise RuntimeError("no code generator for this device\nsecond line, not shown")
        return _ShiftedExecutable(self._reference.compile(function), self._reference)

    def from_host(self, array):
        return self._reference.from_host(array)

    def to_host(self, buffer):
        return self._reference.to_host(buffer)


@pytest.fixture
def fake_backends(monkeypatch):
    """Registers the backends ``wrong`` and ``broken`` for one test."""
    monkeypatch.setattr(registry, "KNOWN_BACKENDS", (*registry.KNOWN_BACKENDS, "wrong", "broken"))
    for name in ("wrong", "broken"):
        monkeypatch.setitem(registry._FACTORIES, name, lambda spec, name=name: _FakeBackend(name))
    yield
    for name in ("wrong", "broken"):
        registry._INSTANCES.pop(name, None)


def table_rows(out: str, section: str) -> dict[str, list[str]]:
    """The rows of one section's table: backend -> cells (split on runs of 2+ spaces)."""
    block = out.split(f"{section}: against the reference backend")[1].split("\n\n")[0]
    lines = block.splitlines()[2:]
    return {line.split()[0]: re.split(r"\s{2,}", line) for line in lines}


def test_check_passes_on_every_available_backend(capsys):
    others = [b for b in registry.available_backends() if b != "reference"]
    code, out, err = run(capsys, *CHECK_LOSS, "--grad")
    assert (code, err) == (0, ""), out + err
    assert out.startswith("forward: against the reference backend (1 output)\n" + CHECK_HEADER + "\n")
    assert "\n\ngrad: against the reference backend (4 outputs)\n" + CHECK_HEADER + "\n" in out
    for section, count in (("forward", "1"), ("grad", "4")):
        rows = table_rows(out, section)
        assert list(rows) == others
        for cells in rows.values():
            assert cells[1] == count and cells[4] == "f32 rtol=1e-04 atol=1e-05"
            assert cells[5] == "PASS" and float(cells[2]) <= 1e-5
    assert out.endswith(f"\nPASS: {', '.join(others)} match the reference\n")
    assert run(capsys, *CHECK_LOSS, "--grad")[1] == out  # deterministic


def test_check_table_columns_and_dtypes(capsys):
    code, out, _ = run(
        capsys, "check", "check_model.py:mixed", "--args", "check_model.py:make_args",
        "--seed", "3", "--backends", "llvm",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "forward: against the reference backend (3 outputs)"
    assert [c.strip() for c in lines[1].split("  ") if c.strip()] == list(HEADER)
    assert lines[1] == (
        "backend  outputs  max abs err  max rel err  "
        "tolerance                                         result"
    )
    cells = table_rows(out, "forward")["llvm"]
    assert cells[:2] == ["llvm", "3"]
    assert cells[4:] == ["bool exact, f32 rtol=1e-04 atol=1e-05, i32 exact", "PASS"]
    assert "grad:" not in out


def test_check_arg_specs_are_seeded_random(capsys):
    argv = ["check", "model.py:predict", "--arg", "x=f32[2,3]", "--arg", "w=f32[3,5]",
            "--backends", "llvm"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and float(table_rows(out, "forward")["llvm"][2]) >= 0.0
    assert run(capsys, *argv, "--seed", "0")[1] == out


def test_check_fails_a_wrong_backend_and_reports_a_broken_one(capsys, fake_backends):
    code, out, err = run(capsys, *CHECK_LOSS, "--grad", "--backends", "broken,wrong,llvm")
    assert code == 1 and err == ""
    for section in ("forward", "grad"):
        rows = table_rows(out, section)
        assert list(rows) == ["broken", "wrong", "llvm"]
        assert rows["broken"] == [
            "broken", "-", "-", "-", "-",
            "FAIL", "RuntimeError: no code generator for this device",
        ]
        assert rows["wrong"][5].startswith("FAIL") and float(rows["wrong"][2]) == pytest.approx(1.0)
        assert rows["llvm"][5] == "PASS"
    assert "second line" not in out
    assert "out: 1 of 1 values outside tolerance" in out
    assert "out['w2']: 24 of 24 values outside tolerance" in out
    assert out.endswith(
        "\nFAIL: broken (forward), wrong (forward), broken (grad), wrong (grad)\n"
    )


def test_check_non_scalar_loss_with_grad_is_a_usage_error(capsys):
    code, out, err = run(
        capsys, "check", "model.py:predict", "--arg", "x=f32[2,3]", "--arg", "w=f32[3,5]", "--grad"
    )
    assert out == ""
    assert_one_line_error(
        code, err, "tcomp check: error: --grad: 'predict' returns f32[2,5]", "float scalar"
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["check", "model.py:predict"], "give the example arguments"),
        ([*CHECK_LOSS, "--backends", "metal"], "unknown backend 'metal'"),
        ([*CHECK_LOSS, "--backends", "llvm,llvm"], "named twice"),
        ([*CHECK_LOSS, "--backends", ","], "no backend to compare"),
        (["check", "model.py:missing", "--arg", "x=f32[1]"], "no function 'missing'"),
    ],
)
def test_check_usage_errors(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert out == ""
    assert_one_line_error(code, err, "tcomp check: error: ", fragment)


def test_check_compare_leaf_tolerances_and_nans():
    f32 = np.array([1.0, np.nan, 0.0], np.float32)
    assert compare_leaf(f32, f32.copy(), "out").failure is None
    close = f32 + np.array([5e-5, 0, 5e-6], np.float32)
    assert compare_leaf(close, f32, "out").failure is None
    nan_for_number = np.array([np.nan, np.nan, 0.0], np.float32)
    assert "NaN positions differ at 1 of 3" in compare_leaf(nan_for_number, f32, "out").failure
    number_for_nan = np.array([1.0, 2.0, 0.0], np.float32)
    assert "NaN positions" in compare_leaf(number_for_nan, f32, "out").failure
    assert "2 of 2" in compare_leaf(np.array([1, 3]), np.array([2, 4]), "out").failure
    assert "dtype" in compare_leaf(f32.astype(np.float64), f32, "out").failure
    f16 = np.array([100.0], np.float16)
    assert compare_leaf(f16 + np.float16(0.5), f16, "out").failure is None
    assert tolerance_for(np.dtype(np.float64)).rtol == 1e-9
    assert tolerance_for(np.dtype(np.int32)).exact


# ---------------------------------------------------------------------------- backends, help


def test_backends_lists_install_commands(capsys):
    code, out, _ = run(capsys, "backends")
    # one line per backend; indented lines under it name devices or why it is missing
    lines = {line.split()[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert code == 0 and list(lines) == ["reference", "llvm", "opencl", "cuda"]
    assert lines["reference"].startswith("reference  available")
    # the install command shows when the backend's package is missing (not when, say,
    # PoCL is installed but cannot compile for this CPU: the "why" line says that)
    installed = {name: importlib.util.find_spec(module) is not None
                 for name, module in (("opencl", "pyopencl"), ("cuda", "pycuda"))}
    if "not available" in lines["opencl"]:
        assert ('pip install "tcomp[opencl]"' in lines["opencl"]) != installed["opencl"]
    if "not available" in lines["cuda"]:
        assert ('pip install "tcomp[cuda]"' in lines["cuda"]) != installed["cuda"]
        assert "NVIDIA" in lines["cuda"] or installed["cuda"]
    else:
        assert "uses cuda device" in out
    if "not available" not in lines["opencl"]:
        assert "uses opencl device" in out and "opencl:0 = " in out


@pytest.mark.parametrize(
    "command",
    [["demo"], ["backends"], ["inspect"], ["check"], ["opt"], ["cache"], ["cache", "clear"]],
)
def test_every_command_has_help_with_an_example(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "-h"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tcomp {' '.join(command)}") and "example:\n  " in out


def test_python_dash_m_tcomp_help():
    done = subprocess.run(
        [sys.executable, "-m", "tcomp", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: tcomp ")
    for command in ("inspect", "check", "opt", "cache", "backends", "demo", "bench"):
        assert command in done.stdout
