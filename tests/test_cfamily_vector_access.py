"""16-byte vector loads and stores in big elementwise kernels (tcomp.backends.cfamily.vector_nest).

- which kernels take the vector path: a float32 or int32 chain whose every
  access is the nest's flat index (1-d or a 2-d nest of flat accesses) does;
  a broadcast operand, a transpose, 16-bit and 64-bit floats do not, nor a
  nest too small to be coarsened;
- golden sources of a vectorised chain with a tail
  (``tests/golden/cfamily/elementwise_vector4.cl`` / ``.cu``; regenerate with
  ``TCOMP_UPDATE_GOLDEN=1`` and review the diff like code);
- on OpenCL (PoCL here), results bit for bit equal to the scalar path's (the
  same kernel rendered without vector accesses) and to the reference's, for
  sizes with every tail length, an int32 chain and two outputs;
- the CUDA sources compile with nvcc for sm_80 and sm_90.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from nvcc_check import nvcc_fatbin

import tcomp
from tcomp.backends.cfamily import OPENCL, launch_plan, render_program
from tcomp.backends.cfamily.dialect import CUDA
from tcomp.backends.cfamily.mapping import map_kernel
from tcomp.backends.cfamily.vector_nest import is_flat_index
from tcomp.backends.registry import available_backends
from tcomp.ir.kernel.lowering import lower_function

GOLDEN = Path(__file__).parent / "golden" / "cfamily"
UPDATE = os.environ.get("TCOMP_UPDATE_GOLDEN") == "1"
EXTENSIONS = {"opencl": "cl", "cuda": "cu"}
F32 = np.float32
BIG = 2**18


def _gelu_like(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def _tanh_chain(x, y):
    return np.tanh(x) * y + 1.0


def _product(x, y):
    return x * y


def _arithmetic_chain(x, y):
    return (x * y + x) / (y - 2.5) - 0.125


def _int_chain(x, y):
    return np.maximum(x * 3 + y, y - x) - 7


def _two_outputs(x, y):
    return x * y, np.exp(x) - y


def _times_column_index(x):
    return x * tcomp.arange(x.shape[1], dtype="float32") + x


def _times_scalar(x, s):
    return x * s - s


def _scaled_transpose(x):
    return x.T * 2.0


def _program(fn, args):
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    return lower_function(function)


def _vectorised(fn, args, dialect):
    text = render_program(_program(fn, args), dialect)
    return ("vload4(" if dialect == "opencl" else "4*>(") in text


# -- which kernels take the vector path ------------------------------------------


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_a_big_float32_chain_uses_16_byte_accesses(dialect):
    text = render_program(_program(_gelu_like, [np.zeros(BIG, F32)]), dialect)
    if dialect == "opencl":
        assert "vload4(0, p0 + tc_i)" in text and "vstore4(" in text
    else:
        assert "*reinterpret_cast<const float4*>(p0 + tc_i)" in text
        assert "*reinterpret_cast<float4*>(" in text
    assert "tc_u" not in text  # not the strided variant
    for lane in "xyzw":
        assert f"tc_v_p0.{lane}" in text


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_a_2d_nest_of_flat_accesses_is_vectorised(dialect):
    x = np.zeros((256, 300), F32)
    assert _vectorised(_product, [x, x], dialect)
    text = render_program(_program(_product, [x, x]), dialect)
    assert "% 300" not in text  # nothing needs the nest's variables


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_an_int32_chain_is_vectorised(dialect):
    x = np.zeros(BIG, np.int32)
    text = render_program(_program(_int_chain, [x, x]), dialect)
    assert ("vload4(" in text) if dialect == "opencl" else ("const int4*>" in text)


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_a_broadcast_operand_keeps_the_scalar_path(dialect):
    text = render_program(
        _program(_product, [np.zeros((256, 1024), F32), np.zeros(1024, F32)]), dialect
    )
    assert "tc_u" in text and "vload4" not in text and "float4" not in text


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_a_transpose_keeps_the_scalar_path(dialect):
    text = render_program(_program(_scaled_transpose, [np.zeros((256, 512), F32)]), dialect)
    assert "vload4" not in text and "float4" not in text


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_other_widths_keep_the_scalar_path(dialect, dtype):
    import ml_dtypes

    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    x = np.zeros(BIG, np_dtype)
    text = render_program(_program(_tanh_chain, [x, x]), dialect)
    assert "tc_u" in text  # coarsened, strided
    assert "vload4" not in text and "4*>" not in text and "vstore4" not in text


def test_a_small_nest_is_not_coarsened_nor_vectorised():
    x = np.zeros(4095, F32)
    text = render_program(_program(_product, [x, x]), "opencl")
    assert "vload4" not in text and "tc_u" not in text


def test_the_launch_keeps_one_work_item_per_four_indices():
    for n in (BIG, BIG + 1, BIG + 3):
        x = np.zeros(n, F32)
        (launch,) = launch_plan(_program(_product, [x, x]), "cuda")
        assert launch.global_size == -(-n // 4) and launch.local_size is None


def test_flat_index_means_coefficient_one_and_no_offset():
    x = np.zeros((256, 300), F32)
    kernel = _program(_product, [x, x]).kernels[0]
    mapping = map_kernel(kernel)
    (store,) = mapping.body
    assert is_flat_index(store.index, mapping.nest)
    from tcomp.ir.kernel.expr import add, const_index, mul

    i0, i1 = (loop.var for loop in mapping.nest)
    assert is_flat_index(add(i1, mul(i0, const_index(300))), mapping.nest)
    assert not is_flat_index(add(store.index, const_index(1)), mapping.nest)
    assert not is_flat_index(i1, mapping.nest)
    assert not is_flat_index(add(mul(i1, const_index(256)), i0), mapping.nest)


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_a_scalar_operand_and_the_nest_variables_in_values_are_allowed(dialect):
    x = np.zeros((256, 300), F32)
    assert _vectorised(_times_scalar, [x, np.zeros((), F32)], dialect)
    text = render_program(_program(_times_column_index, [x]), dialect)
    assert _vectorised(_times_column_index, [x], dialect)
    assert "tc_g = tc_i + 3;" in text and "i1 = tc_g % 300;" in text  # each lane's own


# -- golden text ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_vector4_source_matches_the_golden_text(dialect):
    x = np.zeros(2**16 + 2, F32)  # a multiple of four plus a tail of two
    program = _program(_tanh_chain, [x, x])
    program.name = "elementwise_vector4"
    text = render_program(program, dialect)
    path = GOLDEN / f"elementwise_vector4.{EXTENSIONS[dialect]}"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert text == path.read_text(), (
        f"the {dialect} source of elementwise_vector4 changed; if intended, regenerate "
        "with TCOMP_UPDATE_GOLDEN=1 and review the diff"
    )


# -- results on OpenCL ---------------------------------------------------------------

needs_opencl = pytest.mark.skipif(
    "opencl" not in available_backends(), reason="no OpenCL device (pyopencl + a platform)"
)


@pytest.fixture(scope="module")
def backends():
    """The OpenCL backend and a twin rendering the same kernels without vector accesses."""
    from tcomp.backends.gpu.backend import GPUBackend
    from tcomp.backends.registry import get_backend

    vector = get_backend("opencl")
    scalar_dialect = dataclasses.replace(OPENCL, vector_load="", vector_store="")
    scalar = GPUBackend("opencl", scalar_dialect, lambda: vector.driver)
    return vector, scalar


def _run_both(backends, fn, args):
    """(vector results, scalar results, reference results) as host arrays."""
    vector, scalar = backends
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    fast, slow = vector.compile(function), scalar.compile(function)
    assert "vload4(" in fast.as_text() and "vload4(" not in slow.as_text()
    got = [vector.to_host(buffer) for buffer in fast(args)]
    base = [scalar.to_host(buffer) for buffer in slow(args)]
    expected = tcomp.jit(fn, backend="reference")(*args)
    if not isinstance(expected, tuple):
        expected = (expected,)
    return got, base, [np.asarray(e) for e in expected]


def _bits(array):
    array = np.ascontiguousarray(array)
    return array.view(np.uint32) if array.dtype.itemsize == 4 else array


def _check(got, base, expected, exact):
    """``got`` (vector path) equals ``base`` (scalar path) bit for bit, and ``expected``
    (the reference) bit for bit when ``exact`` (only correctly rounded operations: + - *
    /), else within a few ulp (OpenCL's tanh and exp may differ from numpy's by a few
    ulp, the same on both paths)."""
    np.testing.assert_array_equal(_bits(got), _bits(base))
    if exact:
        np.testing.assert_array_equal(_bits(got), _bits(expected))
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


SIZES = [2**16, 2**16 + 1, 2**16 + 2, 2**16 + 3, 2**16 + 5, 2**16 + 4 * 256 * 4 - 1]


@needs_opencl
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("fn", [_arithmetic_chain, _tanh_chain], ids=["arithmetic", "tanh"])
def test_float32_chains_match_the_scalar_path_bit_for_bit(backends, fn, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(F32) * 3
    y = rng.standard_normal(n).astype(F32)
    got, base, expected = _run_both(backends, fn, [x, y])
    _check(got[0], base[0], expected[0], exact=fn is _arithmetic_chain)


@needs_opencl
def test_gelu_like_chain_matches_the_scalar_path_bit_for_bit(backends):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(2**16 + 3) * 4).astype(F32)
    got, base, expected = _run_both(backends, _gelu_like, [x])
    _check(got[0], base[0], expected[0], exact=False)


@needs_opencl
def test_nest_variables_and_scalar_operands_per_lane(backends):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((257, 301)).astype(F32)  # a tail of one
    got, base, expected = _run_both(backends, _times_column_index, [x])
    _check(got[0], base[0], expected[0], exact=True)
    s = np.asarray(1.75, F32)
    got, base, expected = _run_both(backends, _times_scalar, [x, s])
    _check(got[0], base[0], expected[0], exact=True)


@needs_opencl
@pytest.mark.parametrize("n", [2**16, 2**16 + 3])
def test_int32_chain_matches_bit_for_bit(backends, n):
    rng = np.random.default_rng(2)
    x = rng.integers(-(2**31), 2**31 - 1, n, dtype=np.int32)  # products wrap
    y = rng.integers(-1000, 1000, n, dtype=np.int32)
    got, base, expected = _run_both(backends, _int_chain, [x, y])
    np.testing.assert_array_equal(got[0], base[0])
    np.testing.assert_array_equal(got[0], expected[0])


@needs_opencl
def test_two_outputs_and_a_2d_nest(backends):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((257, 301)).astype(F32)  # 77357 indices: a tail of one
    y = rng.standard_normal((257, 301)).astype(F32)
    got, base, expected = _run_both(backends, _two_outputs, [x, y])
    assert len(got) == 2
    for g, b, e, exact in zip(got, base, expected, (True, False)):
        assert g.shape == (257, 301)
        _check(g, b, e, exact)


# -- CUDA sources compile --------------------------------------------------------------


def _cuda_set() -> list[str]:
    x32, i32 = np.zeros(BIG + 3, F32), np.zeros(BIG + 1, np.int32)
    cases = {
        "gelu_like": (_gelu_like, [np.zeros(BIG, F32)]),
        "tanh_chain_tail": (_tanh_chain, [x32, x32]),
        "int_chain": (_int_chain, [i32, i32]),
        "two_outputs": (_two_outputs, [np.zeros((257, 301), F32)] * 2),
        "product_2d": (_product, [np.zeros((256, 300), F32)] * 2),
        "column_index": (_times_column_index, [np.zeros((257, 301), F32)]),
        "times_scalar": (_times_scalar, [x32, np.zeros((), F32)]),
    }
    sources = []
    for name, (fn, args) in cases.items():
        program = _program(fn, args)
        program.name = name
        text = render_program(program, "cuda")
        assert "4*>(" in text, name
        sources.append(text)
    return sources


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_cuda_vector_sources_compile_with_nvcc(tmp_path):
    """sm_80 and sm_90 in one nvcc call (tests/nvcc_check.py)."""
    path = tmp_path / "vector.cu"
    path.write_text(
        "".join(f"namespace v{n} {{\n{text}}}\n" for n, text in enumerate(_cuda_set()))
    )
    result = nvcc_fatbin(path, CUDA.compile_options)
    assert result.returncode == 0, result.stderr[-4000:]
