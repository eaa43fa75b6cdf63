"""The numpy-style array functions of the ``tcomp`` namespace.

Each works on traced values inside ``jit``/``grad`` and eagerly on numpy
arrays and ``tcomp.Array`` outside them. Broadcasting and dtype promotion
follow numpy (see ``dispatch.result_dtype`` for Python scalars); the
functions lower to the primitives of ``tcomp.ir.primitives``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from tcomp.frontend.dispatch import (
    accumulation_dtype,
    bind,
    broadcast,
    broadcast_shapes,
    cast,
    dtype_of,
    is_weak,
    materialize,
    normalize_axes,
    normalize_axis,
    operand,
    result_dtype,
    shape_of,
    to_float,
    user_error,
)
from tcomp.frontend.integer_power import integer_operands
from tcomp.frontend.values import native_byte_order
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import canonical_dtype, is_float, is_integer, numpy_dtype

# ---------------------------------------------------------------------------
# Elementwise


def _elementwise(op: str, *args: Any, float_inputs: bool = False, public: str | None = None):
    name = public or op
    operands = [operand(a, name) for a in args]
    dtype = result_dtype(*operands)
    if float_inputs and not is_float(dtype):
        dtype = "float32"
    shape = broadcast_shapes(name, *(shape_of(x) for x in operands))
    weak = all(is_weak(x) for x in operands)
    if dtype == "bool" and op in _NOT_ON_BOOL:
        raise user_error(
            TcompTypeError,
            f"{name}: not defined on bool arrays (numpy computes it in int8); convert "
            "first, e.g. x.astype('int32')",
        )
    if dtype == "bool" and op in _BOOL_VIA_INT32:
        # bool + bool is "or", bool * bool "and" (as numpy): computed on 0/1 ints.
        if op == "sub":
            raise user_error(TcompTypeError, "subtract: booleans cannot be subtracted (as in numpy); use not_equal")
        inputs = [broadcast(cast(x, "int32"), shape) for x in operands]
        return cast(bind(op, inputs), "bool")
    inputs = [broadcast(cast(x, dtype), shape) for x in operands]
    return bind(op, inputs, weak=weak)


_BOOL_VIA_INT32 = frozenset({"add", "sub", "mul", "max", "min"})
_NOT_ON_BOOL = frozenset({"floor_divide", "remainder"})


def add(x: Any, y: Any):
    """Elementwise ``x + y``."""
    return _elementwise("add", x, y)


def subtract(x: Any, y: Any):
    """Elementwise ``x - y``."""
    return _elementwise("sub", x, y, public="subtract")


def multiply(x: Any, y: Any):
    """Elementwise ``x * y``."""
    return _elementwise("mul", x, y, public="multiply")


def divide(x: Any, y: Any):
    """Elementwise true division; integer inputs give float32."""
    return _elementwise("div", x, y, float_inputs=True, public="divide")


def power(x: Any, y: Any):
    """Elementwise ``x ** y``: integer (or bool) ``**`` integer stays an integer and is exact
    (:mod:`tcomp.frontend.integer_power`); other integer inputs give float32. Gradients
    at ``y == 0`` and ``x == 0`` are defined, never NaN from ``0 * inf`` (the ``pow``
    primitive's rule, ir/primitives/elementwise.py)."""
    base, exponent = operand(x, "power"), operand(y, "power")
    if is_integer(result_dtype(base, exponent)) or result_dtype(base, exponent) == "bool":
        return _elementwise("pow", *integer_operands(base, exponent), public="power")
    return _elementwise("pow", base, exponent, float_inputs=True, public="power")


def floor_divide(x: Any, y: Any):
    """Elementwise ``x // y``, numpy's floor division: ``floor(x / y)``.

    Integers: a zero divisor gives 0 and ``INT_MIN // -1`` wraps to ``INT_MIN``
    (numpy's results, without its warnings). Floats: numpy's algorithm exactly
    (``(x - fmod(x, y)) / y`` corrected and snapped to an integer; ``x / y`` for a
    zero ``y``), so results equal numpy's bit for bit. No gradient (piecewise
    constant). bool inputs are refused.
    """
    return _elementwise("floor_divide", x, y)


def remainder(x: Any, y: Any):
    """Elementwise ``x % y``, numpy's remainder: ``x - y * floor_divide(x, y)``,
    with the sign of ``y``.

    Integers: a zero divisor gives 0. Floats: numpy's algorithm exactly (``fmod``
    moved to ``y``'s sign; NaN for a zero ``y``). Gradient ``(1, -floor_divide(x, y))``.
    bool inputs are refused.
    """
    return _elementwise("remainder", x, y)


def divmod(x: Any, y: Any):
    """``(floor_divide(x, y), remainder(x, y))``, as numpy's and Python's ``divmod``."""
    return floor_divide(x, y), remainder(x, y)


def maximum(x: Any, y: Any):
    """Elementwise maximum (a tie splits the gradient in half)."""
    return _elementwise("max", x, y, public="maximum")


def minimum(x: Any, y: Any):
    """Elementwise minimum (a tie splits the gradient in half)."""
    return _elementwise("min", x, y, public="minimum")


def equal(x: Any, y: Any):
    return _elementwise("eq", x, y, public="equal")


def not_equal(x: Any, y: Any):
    return _elementwise("ne", x, y, public="not_equal")


def less(x: Any, y: Any):
    return _elementwise("lt", x, y, public="less")


def less_equal(x: Any, y: Any):
    return _elementwise("le", x, y, public="less_equal")


def greater(x: Any, y: Any):
    return _elementwise("gt", x, y, public="greater")


def greater_equal(x: Any, y: Any):
    return _elementwise("ge", x, y, public="greater_equal")


def _unary(op: str, x: Any, float_only: bool, public: str | None = None):
    value = _array_operand(x, public or op)
    if float_only:
        value = to_float(value)
    elif dtype_of(value) == "bool":
        if op == "abs":
            return value  # |bool| is the bool itself, as in numpy
        value = cast(value, "int32")
    return bind(op, [value], weak=is_weak(value))


def negative(x: Any):
    """Elementwise ``-x``."""
    return _unary("neg", x, float_only=False, public="negative")


def abs(x: Any):
    """Elementwise absolute value."""
    return _unary("abs", x, float_only=False)


def sign(x: Any):
    """Elementwise sign (-1, 0 or 1)."""
    return _unary("sign", x, float_only=False)


def exp(x: Any):
    return _unary("exp", x, float_only=True)


def log(x: Any):
    return _unary("log", x, float_only=True)


def sqrt(x: Any):
    return _unary("sqrt", x, float_only=True)


def tanh(x: Any):
    return _unary("tanh", x, float_only=True)


def sin(x: Any):
    return _unary("sin", x, float_only=True)


def cos(x: Any):
    return _unary("cos", x, float_only=True)


def sigmoid(x: Any):
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow."""
    return _unary("logistic", x, float_only=True, public="sigmoid")


def square(x: Any):
    return multiply(x, x)


def stop_gradient(x: Any):
    """``x`` itself, but no gradient flows through it."""
    return bind("stop_gradient", [_array_operand(x, "stop_gradient")])


def where(condition: Any, x: Any, y: Any):
    """Elementwise ``x`` where ``condition`` else ``y`` (all three broadcast together)."""
    cond = operand(condition, "where")
    if dtype_of(cond) != "bool":
        cond = not_equal(cond, 0)
    a, b = operand(x, "where"), operand(y, "where")
    dtype = result_dtype(a, b)
    shape = broadcast_shapes("where", shape_of(cond), shape_of(a), shape_of(b))
    inputs = [broadcast(cast(cond, "bool"), shape)] + [broadcast(cast(v, dtype), shape) for v in (a, b)]
    return bind("select", inputs, weak=is_weak(a) and is_weak(b))


def clip(x: Any, a_min: Any = None, a_max: Any = None):
    """Limits values to ``[a_min, a_max]`` (either may be None), as numpy's clip; the
    gradient at a bound goes to ``x`` (see :mod:`tcomp.frontend.clipping`)."""
    from tcomp.frontend.clipping import clip as clip_with_where  # it builds on this module

    return clip_with_where(x, a_min, a_max)


def astype(x: Any, dtype: Any):
    """``x`` converted to ``dtype`` (float to int truncates toward zero, as in numpy).

    A numpy integer array converted to an integer dtype is converted by numpy, before
    it becomes a tcomp value: ``tcomp.astype(np.arange(3), "int64")`` keeps int64
    values beyond int32 (host int64 arrays are otherwise narrowed to int32,
    :mod:`tcomp.frontend.values`)."""
    target = canonical_dtype(dtype)
    if isinstance(x, (np.ndarray, np.integer)) and np.asarray(x).dtype.kind in "iu" and is_integer(target):
        return materialize(native_byte_order(np.asarray(x)).astype(numpy_dtype(target)))
    return cast(_array_operand(x, "astype"), target)


# ---------------------------------------------------------------------------
# Reductions


def _reduce(op: str, public: str, x: Any, axis: Any, keepdims: bool):
    value = _array_operand(x, public)
    keep_bool = dtype_of(value) == "bool" and op != "reduce_sum"  # max/min of bools are bools
    if dtype_of(value) == "bool":
        value = cast(value, "int32")
    if op == "reduce_sum":
        value = cast(value, accumulation_dtype(dtype_of(value)))
    shape = shape_of(value)
    axes = normalize_axes(public, axis, len(shape))
    if op != "reduce_sum":
        for a in axes:
            if shape[a] == 0:
                raise user_error(
                    TcompShapeError, f"{public}: cannot reduce the empty axis {a} of shape {shape}"
                )
    result = bind(op, [value], axes=axes)
    if keep_bool:
        result = cast(result, "bool")
    if keepdims:
        result = bind("reshape", [result], shape=tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return result


def _selected(x: Any, selection: Any, fill: Any, public: str) -> Any:
    """``x`` with the elements that ``where`` (bool, broadcast to ``x``'s shape) leaves
    out replaced by ``fill``: numpy's ``where=`` of a reduction."""
    value = _array_operand(x, public)
    mask = _array_operand(selection, public)
    if dtype_of(mask) != "bool":
        raise user_error(TcompTypeError, f"{public}: where must be a bool array, got {dtype_of(mask)}")
    shape = shape_of(value)
    if broadcast_shapes(public, shape, shape_of(mask)) != shape:
        raise user_error(
            TcompShapeError,
            f"{public}: where of shape {shape_of(mask)} does not broadcast to x's shape {shape}",
        )
    return where(broadcast_to(mask, shape), value, fill)


def sum(x: Any, axis: Any = None, keepdims: bool = False, *, where: Any = None):
    """Sum over ``axis`` (an int, a tuple, or None for all); bools, int8 and int32 sum in
    int32, uint8 and uint32 in uint32, int64 in int64 (:func:`accumulation_dtype`).
    ``where`` (bool, broadcast to ``x``): only the elements where it is true count."""
    if where is not None:
        x = _selected(x, where, 0, "sum")
    return _reduce("reduce_sum", "sum", x, axis, keepdims)


def _extreme(op: str, public: str, x: Any, axis: Any, keepdims: bool, initial: Any, where: Any):
    """``max``/``min`` with numpy's ``initial`` (a value the result is compared with) and
    ``where`` (which needs ``initial``, as in numpy)."""
    if where is not None:
        if initial is None:
            raise user_error(
                TcompArgumentError,
                f"{public}: where= needs initial= (the result where nothing is selected), as in numpy",
            )
        x = _selected(x, where, initial, public)
    if initial is None:
        return _reduce(op, public, x, axis, keepdims)
    value = _array_operand(x, public)
    axes = normalize_axes(public, axis, len(shape_of(value)))
    if any(shape_of(value)[a] == 0 for a in axes):  # numpy: the initial value alone
        from tcomp.frontend.creation import full  # creation builds on this module

        dims = enumerate(shape_of(value))
        shape = tuple(1 if i in axes else d for i, d in dims if keepdims or i not in axes)
        return full(shape, initial, dtype_of(value))
    combine = maximum if op == "reduce_max" else minimum
    return combine(_reduce(op, public, value, axis, keepdims), initial)


def max(x: Any, axis: Any = None, keepdims: bool = False, *, initial: Any = None, where: Any = None):
    """Maximum over ``axis``; ties share the gradient equally. ``initial``: a value the
    maximum is also taken with (the result over an empty or unselected axis);
    ``where`` (with ``initial``): only the elements where it is true count (numpy's)."""
    return _extreme("reduce_max", "max", x, axis, keepdims, initial, where)


def min(x: Any, axis: Any = None, keepdims: bool = False, *, initial: Any = None, where: Any = None):
    """Minimum over ``axis``; ties share the gradient equally. ``initial`` and ``where``:
    as in :func:`max`."""
    return _extreme("reduce_min", "min", x, axis, keepdims, initial, where)


def mean(x: Any, axis: Any = None, keepdims: bool = False, *, where: Any = None):
    """Mean over ``axis``; integer inputs give float32. ``where`` (bool, broadcast to
    ``x``): the mean of the selected elements (NaN where none is selected, as numpy)."""
    value = to_float(operand(x, "mean"))
    axes = normalize_axes("mean", axis, len(shape_of(value)))
    if where is not None:
        total = sum(value, axis=axes, keepdims=keepdims, where=where)
        ones = broadcast_to(cast(_array_operand(where, "mean"), dtype_of(value)), shape_of(value))
        return divide(total, sum(ones, axis=axes, keepdims=keepdims))
    count = 1
    for a in axes:
        count *= shape_of(value)[a]
    total = sum(value, axis=axes, keepdims=keepdims)
    return divide(total, float(count)) if count != 1 else total


def argmax(x: Any, axis: Any = None):
    """Index of the first maximum along ``axis`` (of the flattened array when None), int32."""
    value = _array_operand(x, "argmax")
    if axis is None:
        value = reshape(value, (-1,))
        axis = 0
    axis = normalize_axis("argmax", axis, len(shape_of(value)))
    if shape_of(value)[axis] == 0:
        raise user_error(TcompShapeError, "argmax: the axis is empty")
    if dtype_of(value) == "bool":
        value = cast(value, "int32")
    return bind("argmax", [value], axis=axis)


# ---------------------------------------------------------------------------
# Contraction


def matmul(x: Any, y: Any):
    """numpy's ``x @ y``: 1-D operands are promoted and squeezed, batch axes broadcast."""
    a, b = operand(x, "matmul"), operand(y, "matmul")
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        raise user_error(TcompShapeError, f"matmul: operands must not be 0-d, got shapes {sa} and {sb}")
    dtype = result_dtype(a, b)
    if dtype == "bool":  # counted on ints, then "any" as numpy does
        return cast(matmul(cast(a, "int32"), cast(b, "int32")), "bool")
    a, b = cast(a, dtype), cast(b, dtype)
    if len(sa) == 1:
        a = reshape(a, (1, sa[0]))
    if len(sb) == 1:
        b = reshape(b, (sb[0], 1))
    ma, mb = shape_of(a), shape_of(b)
    if ma[-1] != mb[-2]:
        raise user_error(
            TcompShapeError,
            f"matmul: shapes {sa} and {sb} do not fit: contracted axes have {ma[-1]} and {mb[-2]} elements",
        )
    if len(ma) > 2 and len(mb) == 2:  # rows times one matrix: one matmul, one weight gradient
        rows = bind("matmul", [reshape(a, (math.prod(ma[:-1]), ma[-1])), b])
        return reshape(rows, ma[:-1] + ((mb[-1],) if len(sb) > 1 else ()))
    batch = broadcast_shapes("matmul", ma[:-2], mb[:-2])
    a = broadcast(a, batch + ma[-2:])
    b = broadcast(b, batch + mb[-2:])
    result = bind("matmul", [a, b])
    out_shape = batch + ((ma[-2],) if len(sa) > 1 else ()) + ((mb[-1],) if len(sb) > 1 else ())
    return reshape(result, out_shape) if out_shape != shape_of(result) else result


dot = matmul

# ---------------------------------------------------------------------------
# Movement


def _array_operand(x: Any, op: str):
    """A tracer or Array for ``x`` (Python scalars take their default dtype)."""
    return materialize(operand(x, op))


def reshape(x: Any, shape: Any):
    """numpy's reshape (row-major; one axis may be -1)."""
    value = _array_operand(x, "reshape")
    old = shape_of(value)
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(not isinstance(d, (int, np.integer)) or isinstance(d, (bool, np.bool_)) for d in dims):
        raise user_error(
            TcompTypeError, f"reshape: the shape must be ints (one may be -1), got {shape!r}"
        )
    shape = tuple(int(d) for d in dims)
    size = int(np.prod(old, dtype=np.int64))
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise user_error(TcompShapeError, f"reshape: invalid shape {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise user_error(TcompShapeError, f"reshape: cannot reshape {old} into {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise user_error(
            TcompShapeError, f"reshape: cannot reshape {old} ({size} elements) into {shape}"
        )
    if shape == old:
        return value
    return bind("reshape", [value], shape=shape)


def transpose(x: Any, axes: Sequence[int] | None = None):
    """Permutes axes (reverses them when ``axes`` is None)."""
    value = _array_operand(x, "transpose")
    ndim = len(shape_of(value))
    if axes is None:
        perm = tuple(reversed(range(ndim)))
    else:
        perm = tuple(normalize_axis("transpose", a, ndim) for a in axes)
        if sorted(perm) != list(range(ndim)):
            raise user_error(
                TcompShapeError, f"transpose: axes {tuple(axes)} are not a permutation of {ndim} axes"
            )
    return bind("transpose", [value], perm=perm)


def swapaxes(x: Any, axis1: int, axis2: int):
    value = _array_operand(x, "swapaxes")
    ndim = len(shape_of(value))
    a, b = normalize_axis("swapaxes", axis1, ndim), normalize_axis("swapaxes", axis2, ndim)
    perm = list(range(ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return bind("transpose", [value], perm=tuple(perm))


def broadcast_to(x: Any, shape: Sequence[int]):
    """numpy's broadcast_to."""
    value = _array_operand(x, "broadcast_to")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    source = shape_of(value)
    if len(shape) < len(source) or broadcast_shapes("broadcast_to", source, shape) != shape:
        raise user_error(TcompShapeError, f"broadcast_to: cannot broadcast {source} to {shape}")
    return broadcast(value, shape)


def expand_dims(x: Any, axis: Any):
    """Inserts 1-axes at the given positions of the result."""
    value = _array_operand(x, "expand_dims")
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = len(shape_of(value)) + len(axes)
    positions = normalize_axes("expand_dims", axes, ndim)
    source = iter(shape_of(value))
    shape = tuple(1 if i in positions else next(source) for i in range(ndim))
    return bind("reshape", [value], shape=shape)


def squeeze(x: Any, axis: Any = None):
    """Removes 1-axes (all of them when ``axis`` is None)."""
    value = _array_operand(x, "squeeze")
    shape = shape_of(value)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = normalize_axes("squeeze", axis, len(shape))
        for a in axes:
            if shape[a] != 1:
                raise user_error(
                    TcompShapeError, f"squeeze: axis {a} of shape {shape} has size {shape[a]}, not 1"
                )
    return bind("reshape", [value], shape=tuple(d for i, d in enumerate(shape) if i not in axes))


def concatenate(arrays: Sequence[Any], axis: int = 0):
    """Joins arrays along an existing axis (dtypes promote)."""
    if isinstance(arrays, (np.ndarray,)) or not isinstance(arrays, (list, tuple)) or not arrays:
        raise user_error(TcompTypeError, "concatenate: expects a non-empty list or tuple of arrays")
    values = [operand(a, "concatenate") for a in arrays]
    dtype = result_dtype(*values)
    values = [cast(v, dtype) for v in values]
    ranks = {len(shape_of(v)) for v in values}
    if len(ranks) != 1 or 0 in ranks:
        shown = ", ".join(str(shape_of(v)) for v in values)
        raise user_error(TcompShapeError, f"concatenate: arrays must have one rank >= 1, got {shown}")
    ndim = ranks.pop()
    axis = normalize_axis("concatenate", axis, ndim)
    first = shape_of(values[0])
    for v in values[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(shape_of(v), first)) if i != axis):
            shown = ", ".join(str(shape_of(v)) for v in values)
            raise user_error(
                TcompShapeError, f"concatenate: shapes {shown} differ off the joined axis {axis}"
            )
    if len(values) == 1:
        return materialize(values[0])
    return bind("concatenate", values, axis=axis)


def stack(arrays: Sequence[Any], axis: int = 0):
    """Joins arrays of one shape along a new axis."""
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise user_error(TcompTypeError, "stack: expects a non-empty list or tuple of arrays")
    values = [operand(a, "stack") for a in arrays]
    shapes = {shape_of(v) for v in values}
    if len(shapes) != 1:
        raise user_error(TcompShapeError, f"stack: all arrays need one shape, got {sorted(shapes)}")
    axis = normalize_axis("stack", axis, len(shapes.pop()) + 1)
    return concatenate([expand_dims(v, axis) for v in values], axis=axis)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0):
    """numpy's pad: ``pad_width`` is an int, a pair, or a pair per axis; ``mode``
    ``constant``, or ``edge``, ``reflect``, ``symmetric``, ``wrap`` (frontend/pad_modes.py)."""
    value = _array_operand(x, "pad")
    ndim = len(shape_of(value))
    from tcomp.frontend.pad_modes import pad_widths  # pad_modes builds on this module

    widths = pad_widths(pad_width, ndim)
    if (widths < 0).any():
        raise user_error(TcompShapeError, f"pad: negative padding {pad_width!r}")
    if mode != "constant":
        from tcomp.frontend.pad_modes import pad_copying

        return pad_copying(value, [tuple(int(w) for w in row) for row in widths], mode)
    if not isinstance(constant_values, (int, float, bool, np.number)):
        raise user_error(TcompTypeError, "pad: constant_values must be a number")
    return bind(
        "pad",
        [value],
        low=tuple(int(w) for w in widths[:, 0]),
        high=tuple(int(w) for w in widths[:, 1]),
        interior=(0,) * ndim,
        value=float(constant_values) if is_float(dtype_of(value)) else int(constant_values),
    )


# ---------------------------------------------------------------------------
# Gathering: take, take_along_axis, one_hot (frontend/ops_gather.py, re-exported here)

from tcomp.frontend.ops_gather import (  # noqa: E402 (it builds on the functions above)
    int32_indices,  # noqa: F401 (re-exported)
    one_hot,  # noqa: F401
    take,  # noqa: F401
    take_along_axis,  # noqa: F401
)
