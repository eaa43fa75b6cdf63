"""numpy functions composed from tcomp's existing ops (issue 15).

Each is built from the functions of ``tcomp.frontend.ops``, ``creation`` and
``indexing`` only, so it works inside ``jit``, eagerly on numpy arrays and
``tcomp.Array``, on every backend, and gets its gradient from autodiff of
those ops. By theme:

- ``composite_reductions``: ``var std prod any all argmin``, the scans
  ``cumsum cumprod cummax cummin`` and ``nonzero argwhere`` (with a static
  ``size``);
- ``composite_shapes``: ``tril triu diagonal flip roll moveaxis ravel tile
  repeat split array_split outer``;
- ``composite_einsum``: ``einsum``;
- ``composite_sort``: ``sort argsort top_k`` (a bitonic network).
"""

from tcomp.frontend.composite_einsum import einsum
from tcomp.frontend.composite_reductions import (
    all,
    any,
    argmin,
    argwhere,
    cummax,
    cummin,
    cumprod,
    cumsum,
    nonzero,
    prod,
    std,
    var,
)
from tcomp.frontend.composite_shapes import (
    array_split,
    diagonal,
    flip,
    moveaxis,
    outer,
    ravel,
    repeat,
    roll,
    split,
    tile,
    tril,
    triu,
)
from tcomp.frontend.composite_sort import argsort, sort, top_k

__all__ = [
    "all",
    "any",
    "argmin",
    "argsort",
    "argwhere",
    "array_split",
    "cummax",
    "cummin",
    "cumprod",
    "cumsum",
    "diagonal",
    "einsum",
    "flip",
    "moveaxis",
    "nonzero",
    "outer",
    "prod",
    "ravel",
    "repeat",
    "roll",
    "sort",
    "split",
    "std",
    "tile",
    "top_k",
    "tril",
    "triu",
    "var",
]
