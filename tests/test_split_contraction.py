"""The kernel passes that shape convolutions' contractions on llvm (issue 14):

- ``split-contractions``: a contraction with a small output and a long contracted loop
  (a conv's weight gradient) runs as a partial contraction over chunks of that loop,
  parallel over the chunks, and a final kernel adding the partials and running the
  epilogue; leftover iterations and the epilogue still count;
- ``flatten-contractions`` lays a weight gradient's im2col copy out ``[P, K]``, so the
  copy runs along the image's rows and the matmul reads its rows in place (unless the
  output channels are many and the im2col small: then they are the rows);
- the blocked matmul reads B's rows in place when they are contiguous and whole panels;
- a strided conv's input gradient is one stride-1 conv per phase (no lhs dilation);
- the register tile has fewer rows when the usual one would compute many zero rows.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp import nn  # noqa: E402
from tcomp.ir.kernel.lowering.split_contraction import MAX_OUTPUT, MIN_K  # noqa: E402
from tcomp.ir.kernel.lowering.split_reduction import PARTS  # noqa: E402


def _kernels(fn, *args):
    return fn.lower(*args).kernel_program().kernels


def _schedules(fn, *args) -> list[str]:
    text = fn.lower(*args).as_text("kernels", locations=False)
    return [line.strip() for line in text.splitlines() if line.strip().startswith("schedule")]


@pytest.mark.parametrize("k", [MIN_K * 8, MIN_K * 8 + PARTS - 3])
def test_a_long_contraction_with_a_small_output_is_split_into_chunks(k):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, k)).astype(np.float32)
    b = rng.standard_normal((k, 40)).astype(np.float32)
    bias = rng.standard_normal(40).astype(np.float32)
    step = tcomp.jit(lambda a, b, bias: tcomp.maximum(a @ b + bias, 0.0), backend="llvm")
    schedules = _schedules(step, a, b, bias)
    assert any("parallel=s0" in s and "tile=" in s for s in schedules), schedules
    assert len(_kernels(step, a, b, bias)) == 2  # the partials, then sum + bias + relu
    expected = np.maximum(a.astype(np.float64) @ b.astype(np.float64) + bias, 0.0)
    np.testing.assert_allclose(np.asarray(step(a, b, bias)), expected, rtol=1e-4,
                               atol=1e-4 * np.sqrt(k))


def test_a_contraction_with_enough_output_rows_is_not_split():
    rng = np.random.default_rng(1)
    rows = MAX_OUTPUT // 64 + 1
    a = rng.standard_normal((rows, MIN_K)).astype(np.float32)
    b = rng.standard_normal((MIN_K, 64)).astype(np.float32)
    step = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert len(_kernels(step, a, b)) == 1
    assert not any("parallel=s0" in s for s in _schedules(step, a, b))


def _conv_loss(x, w, stride: int):
    return (nn.conv2d(x, w, stride=stride, padding=1) ** 2).sum()


def test_a_weight_gradient_copies_along_image_rows_and_splits_over_the_batch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 8, 32, 32)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    grad_w = tcomp.jit(tcomp.grad(_conv_loss, argnums=1), static_argnums=2, backend="llvm")
    schedules = _schedules(grad_w, x, w, 1)
    # the im2col copy of the weight gradient runs along a reduction loop (the image row)
    assert any("vector={r" in s for s in schedules), schedules
    assert any("parallel=s0" in s for s in schedules), schedules
    reference = tcomp.jit(tcomp.grad(_conv_loss, argnums=1), static_argnums=2,
                          backend="reference")
    np.testing.assert_allclose(np.asarray(grad_w(x, w, 1)), np.asarray(reference(x, w, 1)),
                               rtol=2e-4, atol=2e-2)


@pytest.mark.parametrize("channels, rows", [(8, "taps"), (128, "channels")])
def test_a_weight_gradient_stores_along_its_inner_loop_unless_its_channels_are_few(
        channels, rows):
    """A narrow weight gradient (8 output channels) takes the im2col's rows as the
    matmul's rows (read in place); a wide one with a small im2col keeps the channels as
    rows, so each row's results are stored next to each other, not channels apart."""
    from tcomp.ir.kernel.analysis import affine_terms, match_contraction
    from tcomp.ir.kernel.kernel import Store

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 64, 4, 4)).astype(np.float32)
    w = rng.standard_normal((channels, 64, 3, 3)).astype(np.float32)
    grad_w = tcomp.jit(tcomp.grad(_conv_loss, argnums=1), static_argnums=2, backend="llvm")
    matches = [m for m in map(match_contraction, _kernels(grad_w, x, w, 1)) if m is not None]
    weight = [m for m in matches if m.k_loop.extent == 2 * 4 * 4]  # K: batch and image
    assert len(weight) == 1, [m.sizes for m in matches]
    match = weight[0]
    assert match.m_loop.extent == (64 * 9 if rows == "taps" else channels)
    (store,) = [s for s in match.n_after if isinstance(s, Store)]
    strides, _ = affine_terms(store.index)
    assert (strides.get(match.n_loop.var.name) == 1) == (rows == "channels"), strides
    reference = tcomp.jit(tcomp.grad(_conv_loss, argnums=1), static_argnums=2,
                          backend="reference")
    np.testing.assert_allclose(np.asarray(grad_w(x, w, 1)), np.asarray(reference(x, w, 1)),
                               rtol=2e-4, atol=2e-3)


def test_a_contiguous_b_is_read_in_place_and_a_transposed_one_is_packed():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 300)).astype(np.float32)
    b = rng.standard_normal((300, 256)).astype(np.float32)
    plain = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert ".b_in_place" in plain.lower(a, b).as_text("source")
    np.testing.assert_allclose(np.asarray(plain(a, b)), a @ b, rtol=1e-4, atol=1e-3)
    bt = np.ascontiguousarray(b.T)
    transposed = tcomp.jit(lambda a, bt: a @ bt.T, backend="llvm")
    assert ".b_in_place" not in transposed.lower(a, bt).as_text("source")
    np.testing.assert_allclose(np.asarray(transposed(a, bt)), a @ b, rtol=1e-4, atol=1e-3)
    ragged = rng.standard_normal((300, 250)).astype(np.float32)  # a partial last panel
    assert ".b_in_place" not in plain.lower(a, ragged).as_text("source")
    np.testing.assert_allclose(np.asarray(plain(a, ragged)), a @ ragged, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("stride", [2, 3])
def test_a_strided_conv_input_gradient_has_no_dilated_conv(stride):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 11, 10))
    w = rng.standard_normal((4, 3, 3, 3))
    grad_x = tcomp.jit(tcomp.grad(_conv_loss), static_argnums=2, backend="reference")
    traced = grad_x.lower(x, w, stride).as_text("traced")
    convs = [line for line in traced.splitlines() if " conv(" in line]
    assert convs and all("lhs_dilation=(1, 1)" in line for line in convs), convs
    eps = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (float(_conv_loss(up, w, stride)) -
                          float(_conv_loss(down, w, stride))) / (2 * eps)
    np.testing.assert_allclose(np.asarray(grad_x(x, w, stride)), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rows, bits, expected", [
    (16, 512, 8),    # 12-row tiles would compute 24 rows, 8 of them zeros
    (32, 512, 8),    # 36 rows, 4 zeros: over AVX-512's tenth
    (64, 512, 8),    # 72 rows, 8 zeros
    (100, 512, 12),  # 108 rows, 8 zeros: within it
    (128, 512, 12),  # 132 rows, 4 zeros
    (1024, 512, 12),
    (32, 256, 6),    # AVX2: 36 rows, 4 zeros: within its fifth
    (16, 256, 6),    # AVX2: 18 rows, 2 zeros
    (9, 256, 6),     # 12 rows, 3 zeros; 4-row tiles also compute 12: keep 6
])
def test_the_row_tile_shrinks_only_when_it_pads_many_rows(rows, bits, expected):
    from tcomp.ir.kernel.lowering.contraction import tile_rows

    assert tile_rows(rows, bits) == expected
