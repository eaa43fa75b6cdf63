"""tcomp.distributed in one process: the parts that need no MPI (bucket plans, error
messages, refusing traced values, the lazy import). Across processes:
tests/test_distributed_mpi.py."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tcomp
import tcomp.distributed as dist
from tcomp.errors import TcompArgumentError, TcompTracerError
from tcomp.frontend.distributed_agreement import disagreement_message
from tcomp.frontend.distributed_buckets import add_into, pack, plan_buckets, unpack
from tcomp.frontend.distributed_host import leaf_paths

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)


def test_buckets_fill_in_order_up_to_the_size_and_never_split_an_array():
    arrays = [((10,), F32), ((5,), F32), ((100,), F32), ((2, 3), F32), ((1,), F32)]
    buckets = plan_buckets(arrays, bucket_bytes=64)
    # 40 + 20 bytes fit in 64; the 400-byte array alone; then 24 + 4
    assert [b.members for b in buckets] == [(0, 1), (2,), (3, 4)]
    assert [b.offsets for b in buckets] == [(0, 10), (0,), (0, 6)]
    assert [b.size for b in buckets] == [15, 100, 7]
    assert [b.nbytes for b in buckets] == [60, 400, 28]


def test_buckets_group_by_dtype_in_order_of_first_appearance():
    arrays = [((2,), F64), ((3,), I32), ((4,), F64), ((), I32)]
    buckets = plan_buckets(arrays, bucket_bytes=10**6)
    assert [(b.dtype, b.members, b.offsets) for b in buckets] == [
        (F64, (0, 2), (0, 2)),
        (I32, (1, 3), (0, 3)),
    ]


def test_pack_add_unpack_round_trip():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(2, 3)), rng.normal(size=()), rng.normal(size=(4,))]
    (bucket,) = plan_buckets([(a.shape, a.dtype) for a in arrays], 10**6)
    buffer = pack(bucket, arrays)
    np.testing.assert_array_equal(buffer, np.concatenate([a.ravel() for a in arrays]))
    add_into(bucket, arrays, buffer)
    out = [None] * 3
    unpack(bucket, buffer, [a.shape for a in arrays], [np.float32] * 3, out)
    for a, o in zip(arrays, out):
        assert o.shape == a.shape and o.dtype == np.float32
        np.testing.assert_allclose(o, 2 * a, rtol=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "25MB"])
def test_bucket_bytes_must_be_a_positive_integer(bad):
    with pytest.raises(TcompArgumentError, match="bucket_bytes must be a positive integer"):
        plan_buckets([((1,), F32)], bad)


def test_the_disagreement_message_shows_only_the_lines_that_differ_by_rank_group():
    same = ["tcomp version: 0.1.0", "x: float32[8, 2]"]
    message = disagreement_message(
        "all_reduce", [same, ["tcomp version: 0.1.0", "x: float32[6, 2]"], same]
    )
    assert message.splitlines()[1:] == [
        "  ranks 0, 2:  x: float32[8, 2]",
        "  rank 1:      x: float32[6, 2]",
    ]
    assert "the ranks disagree on all_reduce" in message


def test_leaf_paths_follow_the_flattening_order():
    tree = {"b": [np.ones(1), (np.ones(1),)], "a": np.ones(1)}
    leaves, treedef = tcomp.tree_flatten(tree)
    assert leaf_paths(treedef) == ["['a']", "['b'][0]", "['b'][1][0]"]
    assert leaf_paths(tcomp.tree_flatten(np.ones(1))[1]) == ["value"]


HOST_ONLY = {
    "check_parameters": lambda x: dist.check_parameters({"w": x}),
    "data_parallel": lambda x: dist.data_parallel(lambda p, b: (p, p))(x, x),
}


@pytest.mark.parametrize("name", list(HOST_ONLY))
def test_a_host_only_function_inside_jit_says_so(name):
    # the collectives themselves work inside jit: tests/test_distributed_jit.py
    @tcomp.jit(backend="reference")
    def step(x):
        return HOST_ONLY[name](x * 2.0)

    with pytest.raises(TcompTracerError) as error:
        step(np.ones(4, np.float32))
    message = str(error.value)
    assert "it runs on the host only" in message
    assert "on the jitted function's outputs" in message
    assert "(float32[4])" in message
    assert "test_distributed.py" in message  # the user's line


def test_an_unknown_op_is_refused_before_any_mpi_call():
    with pytest.raises(
        TcompArgumentError, match=r"unknown op 'prod'; expected one of 'sum', 'mean'"
    ):
        dist.all_reduce(np.ones(2), "prod")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"accumulation_steps": 0}, "accumulation_steps must be a positive integer"),
        ({"reduce": "max"}, "reduce must be 'mean' or 'sum'"),
        ({"bucket_bytes": 0}, "bucket_bytes must be a positive integer"),
    ],
)
def test_data_parallel_checks_its_settings(kwargs, match):
    with pytest.raises(TcompArgumentError, match=match):
        dist.data_parallel(lambda p, x: (p, p), **kwargs)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_import_tcomp_does_not_import_mpi():
    result = run_python(
        "import sys, tcomp, tcomp.distributed as d\n"
        "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n"
        "assert not d.is_initialized()\n"
        "print('ok')"
    )
    assert result.stdout == "ok\n", result.stderr


def test_without_mpi4py_the_error_gives_the_install_command():
    result = run_python(
        "import sys\n"
        "sys.modules['mpi4py'] = None  # as if not installed\n"
        "import tcomp, tcomp.distributed as d\n"
        "assert not d.is_initialized()\n"
        "try:\n"
        "    d.rank()\n"
        "except tcomp.errors.TcompDistributedError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "tcomp.distributed needs mpi4py and an MPI library" in result.stdout
    assert "pip install 'tcomp[mpi]'" in result.stdout


def test_the_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TCOMP_MPI_TIMEOUT", "2.5")
    assert dist.timeout_s() == 2.5
    monkeypatch.delenv("TCOMP_MPI_TIMEOUT")
    assert dist.timeout_s() == 300.0
    monkeypatch.setenv("TCOMP_MPI_TIMEOUT", "soon")
    with pytest.raises(TcompArgumentError, match="TCOMP_MPI_TIMEOUT='soon': expected a number"):
        dist.timeout_s()
    monkeypatch.setenv("TCOMP_MPI_TIMEOUT", "0")
    with pytest.raises(TcompArgumentError, match="must be a positive number"):
        dist.timeout_s()
