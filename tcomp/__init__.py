"""tcomp: a multi-backend tensor compiler.

Write a model in numpy style, decorate it with :func:`jit`, differentiate it
with :func:`grad` / :func:`value_and_grad` / :func:`vjp`, and read its IR
with ``f.lower(*args).as_text()``. The array functions below work on traced
values inside ``jit`` and eagerly on numpy arrays and :class:`Array` outside.
"""

from tcomp import debug, distributed, errors, random
from tcomp.backends.registry import available_backends, default_backend_name
from tcomp.frontend.accumulate import accumulate_gradients
from tcomp.frontend.array import Array
from tcomp.frontend.bitwise_ops import (
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    invert,
    left_shift,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    right_shift,
)
from tcomp.frontend.buckets import valid_length
from tcomp.frontend.composite_ops import (
    all,
    any,
    argmin,
    argsort,
    argwhere,
    array_split,
    cummax,
    cummin,
    cumprod,
    cumsum,
    diagonal,
    einsum,
    flip,
    moveaxis,
    nonzero,
    outer,
    prod,
    ravel,
    repeat,
    roll,
    sort,
    split,
    std,
    tile,
    top_k,
    tril,
    triu,
    var,
)
from tcomp.frontend.config import config
from tcomp.frontend.control_flow import fori_loop, scan
from tcomp.frontend.control_flow_cond import cond, switch, while_loop
from tcomp.frontend.creation import arange, full, full_like, ones, ones_like, zeros, zeros_like
from tcomp.frontend.dlpack import from_dlpack
from tcomp.frontend.jit import JitFunction, Lowered, jit
from tcomp.frontend.math_ops import (
    acosh,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctanh,
    asinh,
    atanh,
    ceil,
    cosh,
    erf,
    expm1,
    floor,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    log1p,
    rint,
    round,
    sinh,
    trunc,
)
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
from tcomp.frontend.ops_more_creation import diag, eye, identity, linspace, meshgrid
from tcomp.frontend.ops_more_math import (
    allclose,
    copysign,
    exp2,
    fmod,
    isclose,
    lerp,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    mod,
    reciprocal,
    rsqrt,
    tan,
    trunc_divide,
)
from tcomp.frontend.ops_more_stats import corrcoef, cov, logcumsumexp
from tcomp.frontend.put_along_axis import put_along_axis
from tcomp.frontend.pytree import tree_flatten, tree_map, tree_unflatten
from tcomp.frontend.serialization import load, save
from tcomp.frontend.timeline import profile
from tcomp.frontend.transforms import grad, value_and_grad, vjp
from tcomp.ir.errors import TcompError, TcompFloatingPointError

__version__ = "0.1.0"

float32 = "float32"
float64 = "float64"
float16 = "float16"
bfloat16 = "bfloat16"  # host arrays: ml_dtypes.bfloat16
int8 = "int8"
uint8 = "uint8"
int32 = "int32"
uint32 = "uint32"
int64 = "int64"
bool_ = "bool"

__all__ = [name for name in dir() if not name.startswith("_")]
