"""``tcomp.einsum`` (frontend/composite_einsum.py: transposes and one matmul per pair of
operands) against numpy's: random subscripts drawn by hypothesis, and numpy's
documented forms (diagonals, broadcasting ``...``, implicit output) in one jit."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import check, random_array, seeds
from hypothesis import given
from hypothesis import strategies as st
from test_ops_composite import examples, run_jit

import tcomp


@st.composite
def einsum_problems(draw):
    """Random subscripts over labels a-d: 1-3 operands, repeated labels within one
    (diagonals), explicit or implicit output."""
    sizes = {
        label: draw(st.integers(0, 3) if label == "d" else st.integers(1, 3)) for label in "abcd"
    }
    terms = [
        draw(st.lists(st.sampled_from("abcd"), max_size=3)) for _ in range(draw(st.integers(1, 3)))
    ]
    present = sorted({label for term in terms for label in term})
    implicit = draw(st.booleans())
    out = (
        None
        if implicit
        else draw(st.permutations(present)).__getitem__(slice(draw(st.integers(0, len(present)))))
    )
    subscripts = ",".join("".join(t) for t in terms) + ("" if out is None else "->" + "".join(out))
    return subscripts, [tuple(sizes[label] for label in term) for term in terms]


def test_einsum_matches_numpy(backend):
    @examples(backend)
    @given(
        problem=einsum_problems(),
        dtype=st.sampled_from(("float32", "float64", "int32")),
        seed=seeds,
    )
    def inner(problem, dtype, seed):
        subscripts, operand_shapes = problem
        rng = np.random.default_rng(seed)
        operands = [random_array(rng, s, dtype) for s in operand_shapes]
        expected = np.einsum(subscripts, *operands)
        got = run_jit(backend, lambda *xs: tcomp.einsum(subscripts, *xs), *operands)
        check(got, expected, dtype, backend, rtol=1e-4, atol=1e-4)

    inner()


EINSUM_CASES = [  # subscripts, operand shapes: numpy's documented forms and broadcasting
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("ij->i", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij,j", [(2, 3), (3,)]),
    ("...j,j", [(2, 2, 3), (3,)]),
    ("i,i", [(4,)] * 2),
    ("i,j->ij", [(2,), (3,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,jk->bik", [(1, 3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i...->...", [(3, 2, 2)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("ij,jk->ik", [(2, 1), (3, 4)]),
    ("ijk,ikj,k->i", [(2, 3, 3), (2, 3, 3), (3,)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("Ab,ba", [(2, 3), (3, 2)]),
    (",i->i", [(), (3,)]),
]


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_einsum_forms_match_numpy(backend, dtype):
    rng = np.random.default_rng(1)
    operands = [[random_array(rng, s, dtype) for s in shapes_] for _, shapes_ in EINSUM_CASES]
    got = run_jit(
        backend,
        lambda ops: [tcomp.einsum(sub, *xs) for (sub, _), xs in zip(EINSUM_CASES, ops)],
        operands,
    )
    for (subscripts, _), xs, result in zip(EINSUM_CASES, operands, got):
        check(result, np.einsum(subscripts, *xs), dtype, backend)
