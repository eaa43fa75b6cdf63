"""tcomp: a multi-backend tensor compiler.

Write a model in numpy style, decorate it with :func:`jit`, differentiate it
with :func:`grad` / :func:`value_and_grad` / :func:`vjp`, and read its IR
with ``f.lower(*args).as_text()``. The array functions below work on traced
values inside ``jit`` and eagerly on numpy arrays and :class:`Array` outside.
"""

from tcomp import errors
from tcomp.backends.registry import available_backends, default_backend_name
from tcomp.frontend.array import Array
from tcomp.frontend.creation import arange, full, full_like, ones, ones_like, zeros, zeros_like
from tcomp.frontend.jit import JitFunction, Lowered, jit
from tcomp.frontend.ops import (
    abs,
    add,
    argmax,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    divmod,
    dot,
    equal,
    exp,
    expand_dims,
    floor_divide,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    one_hot,
    pad,
    power,
    remainder,
    reshape,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    sum,
    swapaxes,
    take,
    take_along_axis,
    tanh,
    transpose,
    where,
)
from tcomp.frontend.pytree import tree_flatten, tree_map, tree_unflatten
from tcomp.frontend.transforms import grad, value_and_grad, vjp
from tcomp.ir.errors import TcompError

__version__ = "0.1.0"

float32 = "float32"
float64 = "float64"
float16 = "float16"
bfloat16 = "bfloat16"  # host arrays: ml_dtypes.bfloat16
int32 = "int32"
bool_ = "bool"

__all__ = [name for name in dir() if not name.startswith("_")]
