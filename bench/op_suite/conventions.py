"""Tests whose failure is a documented tcomp convention that differs from PyTorch's.

Each entry names the test, a pattern its failure must match (so a different failure in
the same test is still a failure), and the convention with where tcomp documents it.
The runner reports such a test as ``differs``: runnable but not passing, so the pass
rate still counts it against tcomp. An entry belongs here only where tcomp follows
numpy or JAX on purpose and that choice is written down for users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Convention:
    """``test`` fails with a reason matching ``pattern`` because of ``why``."""

    test: str
    pattern: str
    why: str


CONVENTIONS = (
    Convention(
        "TestOps.test_linspace",
        r"forward pass failed shape \(20,\): Mismatched elements",
        "integer linspace rounds toward -inf as numpy 2 does (torch truncates toward 0); "
        "tcomp.linspace's docstring",
    ),
    Convention(
        "TestOps.test_slice_fancy_indexing_dim_collapse_int",
        r"shape mismatch",
        "an integer index beside array indices is an advanced index, and advanced "
        "indices split by a slice put their axes first, as numpy defines (torch treats "
        "the integer as a basic index); README, indexing",
    ),
    Convention(
        "TestOps.test_gather",
        r"\(<class 'RuntimeError'>, <class 'AssertionError'>\) not raised",
        "take_along_axis broadcasts the other axes as numpy's does and clamps indices out "
        "of range (torch refuses index sizes larger than the input's); its docstring",
    ),
    Convention(
        "TestOps.test_pad",
        r"ValueError not raised",
        "pad broadcasts one (low, high) pair to every axis, numpy's pad_width rule "
        "(tinygrad's per-axis form wants a pair per axis); tcomp.pad's docstring",
    ),
    Convention(
        "TestOps.test_max_pool2d_return_indices",
        r"dtype mismatch: tinygrad=int64 \| torch=int32",
        "nn.max_pool2d returns PyTorch's int64 indices, as torch itself does (the test "
        "casts torch's to int32, tinygrad's dtype); nn.max_pool2d's docstring",
    ),
    Convention(
        "TestOps.test_sigmoid_alt_extreme",
        r"nan != 0\.0",
        "exp(300) overflows float32, so exp(x)/(1+exp(x)) is inf/inf = nan and so is its "
        "gradient; PyTorch gives nan too, the 0 asserted is tinygrad's own rewrite",
    ),
)


def convention_for(test: str, reason: str) -> Convention | None:
    """The convention that explains ``test`` failing with ``reason``, if one does."""
    for convention in CONVENTIONS:
        if convention.test == test and re.search(convention.pattern, reason):
            return convention
    return None
