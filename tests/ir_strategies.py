"""Hypothesis strategies for random, valid graph-IR functions and inputs for them.

``random_functions()`` draws a function with 1-3 float parameters of small
shapes (dims 1-4, size-1 axes included, rank 0-3), then 0..``max_steps``
steps, each adding a few nodes of one kind (elementwise unary and binary,
comparison or isnan/isinf/isfinite + select, convert, reductions, reshape,
transpose, broadcast_to, strided slice, rev, pad, concatenate, matmul,
constants with -0.0/nan/inf, ``full`` chains, iota, bitwise ops and shifts
on bools and special int32 values, ``threefry2x32`` words). Each step reads earlier values, by preference the
newest, so most nodes feed the result. It shrinks towards no steps and
simple steps, so a failure shrinks to a handful of nodes. ``function_inputs(fn)``
draws finite, moderate arrays for the parameters; ``functions_with_inputs()``
draws both.

Every value kept for later steps is a float (comparisons feed a ``select``
or a ``convert`` at once, bitwise results a ``convert``), so any step may read any earlier value. The
graph is built with the IR builder: a step whose node the shape rule
rejects (a max over an empty axis, say) is skipped.

Reuse it to test a backend against the reference executor::

    @given(functions_with_inputs())
    def test_backend(case):
        fn, inputs = case
        ...
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tcomp.ir.builder import Emitter, FunctionBuilder
from tcomp.ir.errors import TcompError
from tcomp.ir.graph import Function, Location, Value
from tcomp.ir.types import TensorType, numpy_dtype

UNARY = ("neg", "abs", "sign", "exp", "log", "sqrt", "tanh", "sin", "cos", "logistic",
         "stop_gradient", "erf", "log1p", "expm1", "sinh", "cosh", "asinh", "acosh", "atanh",
         "asin", "acos", "atan")
# floor, ceil, trunc and rint are left out: a last-ulp difference in what they round (a sum
# added up in another order, exp's few ulp) can cross a step and change the result by 1.
# (tests/test_ops_math.py checks them bit for bit instead.)
PREDICATES = ("isnan", "isinf", "isfinite")
BITWISE = ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift")
SPECIAL_INTS = (0, 1, -1, 3, 31, 32, 33, -33, 2**31 - 1, -(2**31))
BINARY = ("add", "sub", "mul", "div", "pow", "max", "min")
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
REDUCE = ("reduce_sum", "reduce_max", "reduce_min")
SPECIAL_VALUES = (0.0, 1.0, -0.0, -1.0, 0.5, 2.0, -3.25, float("nan"), float("inf"), float("-inf"))
FILES = ("model.py", "my model.py", "C:\\src\\net.py", 'odd "quoted":name.py', "ünï.py")
NAMES = ("f", "train_step", "<lambda>", "f_vjp")

Draw = Callable[[st.SearchStrategy], object]
Step = Callable[[Draw, Emitter, list[Value], Sequence[str]], None]

shapes = st.lists(st.integers(1, 4), max_size=3).map(tuple)


def _pick(draw: Draw, pool: Sequence[Value]) -> Value:
    """A value of the pool: the newest half the time (so most nodes feed the result), and
    shrinking towards the newest (so graphs shrink to chains)."""
    newest = st.just(pool[-1])
    return draw(newest | st.sampled_from(list(reversed(pool))))  # type: ignore[return-value]


def _partner(draw: Draw, e: Emitter, pool: Sequence[Value], x: Value) -> Value:
    """A value of x's exact type: x itself, an earlier one, or a fresh ``full``."""
    same = [v for v in pool if v.type == x.type]
    choice = draw(st.sampled_from(("pool", "full")))
    if choice == "full":
        return e.full(draw(st.sampled_from(SPECIAL_VALUES)), x.type)
    return _pick(draw, same)


def _axes(draw: Draw, ndim: int) -> tuple[int, ...]:
    flags = draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
    return tuple(i for i, keep in enumerate(flags) if keep)


# ---------------------------------------------------------------------------
# Steps: each appends its result(s) to the pool.


def _unary(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    op = draw(st.sampled_from(UNARY))
    pool.append(e.emit(op, _pick(draw, pool)))


def _binary(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    op = draw(st.sampled_from(BINARY))
    x = _pick(draw, pool)
    y = _partner(draw, e, pool, x)
    if draw(st.booleans()):
        x, y = y, x
    pool.append(e.emit(op, x, y))


def _compare_select(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    y = _partner(draw, e, pool, x)
    op = draw(st.sampled_from(COMPARE + PREDICATES))
    pred = e.emit(op, x) if op in PREDICATES else e.emit(op, x, y)
    use = draw(st.sampled_from(("select", "swapped", "convert")))
    if use == "select":
        pool.append(e.select(pred, x, y))
    elif use == "swapped":
        pool.append(e.select(pred, y, x))
    else:
        pool.append(e.convert(pred, dtype=draw(st.sampled_from(list(dtypes)))))


def _predicate(draw: Draw, e: Emitter, pool: list[Value], x: Value) -> Value:
    """A bool of x's shape: a predicate of x, or a comparison with a partner."""
    op = draw(st.sampled_from(PREDICATES + COMPARE))
    return e.emit(op, x) if op in PREDICATES else e.emit(op, x, _partner(draw, e, pool, x))


def _bitwise(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    """A bitwise op or shift, converted back to a float: on the bools of two predicates,
    or on int32 values every backend makes alike (special ints, shift amounts outside
    0..31 too, picked by a predicate of pool values): never a float rounded to an int."""
    x = _pick(draw, pool)
    preds = [_predicate(draw, e, pool, x) for _ in range(2)]
    op = draw(st.sampled_from(BITWISE))
    if op in ("bitwise_and", "bitwise_or", "bitwise_xor") and draw(st.booleans()):
        pool.append(e.convert(e.emit(op, *preds), dtype=x.dtype))
        return
    ints = x.type.with_dtype("int32")
    special = st.sampled_from(SPECIAL_INTS)
    a = e.select(preds[0], e.full(draw(special), ints), e.full(draw(special), ints))
    b = e.select(preds[1], e.full(draw(special), ints), e.full(draw(special), ints))
    pool.append(e.convert(e.emit(op, a, b), dtype=x.dtype))


def _random_bits(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    """A word of ``threefry2x32`` on int32 key and counter words every backend makes alike
    (special ints picked by a predicate, and an iota counter), its top 3 bits (arithmetic
    shift: -4..3) converted back to a float of moderate size."""
    x = _pick(draw, pool)
    ints = x.type.with_dtype("int32")
    special = st.sampled_from(SPECIAL_INTS)
    words = []
    for _ in range(3):
        pred = _predicate(draw, e, pool, x)
        words.append(e.select(pred, e.full(draw(special), ints), e.full(draw(special), ints)))
    if x.type.ndim:
        counter = e.iota(shape=x.shape, axis=draw(st.integers(0, x.type.ndim - 1)), dtype="int32")
    else:
        counter = e.full(draw(special), ints)
    bits = e.emit("threefry2x32", *words, counter, word=draw(st.sampled_from((0, 1))))
    pool.append(e.convert(e.emit("right_shift", bits, e.full(29, ints)), dtype=x.dtype))


def _convert(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    pool.append(e.convert(_pick(draw, pool), dtype=draw(st.sampled_from(list(dtypes)))))


def _reduce(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    pool.append(e.emit(draw(st.sampled_from(REDUCE)), x, axes=_axes(draw, x.type.ndim)))


def _reshape(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    shape = list(x.shape)
    how = draw(st.sampled_from(("flatten", "insert", "squeeze", "merge", "split")))
    if how == "flatten":
        shape = [x.type.size]
    elif how == "insert":
        shape.insert(draw(st.integers(0, len(shape))), 1)
    elif how == "squeeze":
        shape = [d for d in shape if d != 1]
    elif how == "merge" and len(shape) >= 2:
        i = draw(st.integers(0, len(shape) - 2))
        shape[i : i + 2] = [shape[i] * shape[i + 1]]
    elif how == "split" and shape:
        i = draw(st.integers(0, len(shape) - 1))
        factors = [f for f in range(1, shape[i] + 1) if shape[i] % f == 0] or [1]  # 0: [1]
        factor = draw(st.sampled_from(factors))
        shape[i : i + 1] = [factor, shape[i] // factor]
    pool.append(e.reshape(x, shape=tuple(shape)))


def _transpose(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    perm = draw(st.permutations(range(x.type.ndim)))
    pool.append(e.transpose(x, perm=tuple(perm)))


def _broadcast(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    if 1 not in x.shape:
        shape = list(x.shape)
        shape.insert(draw(st.integers(0, len(shape))), 1)
        x = e.reshape(x, shape=tuple(shape))
    target = tuple(draw(st.integers(1, 3)) if d == 1 else d for d in x.shape)
    pool.append(e.broadcast_to(x, shape=target))


def _slice(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    start, stop, step = [], [], []
    for d in x.shape:
        lo = draw(st.integers(0, d))
        start.append(lo)
        stop.append(draw(st.integers(lo, d)))
        step.append(draw(st.integers(1, 3)))
    pool.append(e.slice(x, start=tuple(start), stop=tuple(stop), step=tuple(step)))


def _rev(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    pool.append(e.rev(x, axes=_axes(draw, x.type.ndim)))


def _pad(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    n = x.type.ndim
    widths = st.lists(st.integers(0, 2), min_size=n, max_size=n).map(tuple)
    interior = st.lists(st.integers(0, 1), min_size=n, max_size=n).map(tuple)
    value = draw(st.sampled_from(SPECIAL_VALUES))
    pool.append(e.pad(x, low=draw(widths), high=draw(widths), interior=draw(interior), value=value))


def _concatenate(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    if x.type.ndim == 0:
        x = e.reshape(x, shape=(1,))
    axis = draw(st.integers(0, x.type.ndim - 1))

    def fits(v: Value) -> bool:
        return v.dtype == x.dtype and v.type.ndim == x.type.ndim and all(
            a == b for i, (a, b) in enumerate(zip(v.shape, x.shape)) if i != axis
        )

    others = draw(st.lists(st.sampled_from([v for v in pool if fits(v)] or [x]), max_size=2))
    pool.append(e.concatenate(x, *others, axis=axis))


def _matmul(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    x = _pick(draw, pool)
    if x.type.ndim < 2:
        x = e.reshape(x, shape=(1,) * (2 - x.type.ndim) + x.shape)
    rank = x.type.ndim
    swap = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    partners = [
        v for v in pool
        if v.dtype == x.dtype and v.type.ndim == rank
        and v.shape[:-2] == x.shape[:-2] and v.shape[-2] == x.shape[-1]
    ]
    if partners and draw(st.booleans()):
        y = _pick(draw, partners)
    else:
        y = e.transpose(x, perm=swap)
    pool.append(e.matmul(x, y))


def _constant(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    like = _pick(draw, pool).type
    count = like.size
    values = draw(
        st.lists(st.sampled_from(SPECIAL_VALUES), min_size=count, max_size=count)
    )
    array = np.array(values, dtype=numpy_dtype(like.dtype)).reshape(like.shape)
    pool.append(e.constant(array))


def _full(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    like = _pick(draw, pool).type
    pool.append(e.full(draw(st.sampled_from(SPECIAL_VALUES)), like))


def _iota(draw: Draw, e: Emitter, pool: list[Value], dtypes: Sequence[str]) -> None:
    like = _pick(draw, pool).type
    shape = like.shape or (1,)
    axis = draw(st.integers(0, len(shape) - 1))
    pool.append(e.iota(shape=shape, axis=axis, dtype=like.dtype))


STEPS: dict[str, Step] = {
    "unary": _unary,
    "binary": _binary,
    "compare_select": _compare_select,
    "convert": _convert,
    "reduce": _reduce,
    "reshape": _reshape,
    "transpose": _transpose,
    "broadcast_to": _broadcast,
    "slice": _slice,
    "rev": _rev,
    "pad": _pad,
    "concatenate": _concatenate,
    "matmul": _matmul,
    "constant": _constant,
    "full": _full,
    "iota": _iota,
    "bitwise": _bitwise,
    "random_bits": _random_bits,
}

locations = st.none() | st.builds(Location, st.sampled_from(FILES), st.integers(1, 999))


@st.composite
def random_functions(
    draw: Draw,
    max_steps: int = 8,
    max_params: int = 3,
    dtypes: Sequence[str] = ("float32", "float64"),
    steps: Sequence[str] = tuple(STEPS),
) -> Function:
    """A random valid graph-IR function (see the module docstring).

    ``dtypes`` are the float dtypes of parameters and ``convert`` targets;
    ``steps`` narrows the kinds of steps (names of :data:`STEPS`).
    """
    builder = FunctionBuilder(draw(st.sampled_from(NAMES)))
    count = draw(st.integers(1, max_params))
    pool: list[Value] = [
        builder.add_param(TensorType(draw(shapes), draw(st.sampled_from(list(dtypes)))))
        for _ in range(count)
    ]
    for _ in range(draw(st.integers(0, max_steps))):
        step = STEPS[draw(st.sampled_from(list(steps)))]
        emitter = Emitter(builder, draw(locations))
        mark = len(builder.nodes)
        try:
            step(draw, emitter, pool, dtypes)
        except TcompError:
            del builder.nodes[mark:]  # the rule rejected this draw: skip the whole step
    extra = draw(st.lists(st.sampled_from(pool), max_size=2))
    return builder.finish([pool[-1], *extra])


def function_inputs(fn: Function, bound: float = 3.0) -> st.SearchStrategy[list[np.ndarray]]:
    """Finite arrays in ``[-bound, bound]`` for ``fn``'s parameters (exactly their types)."""

    def array(t: TensorType) -> st.SearchStrategy[np.ndarray]:
        np_dtype = numpy_dtype(t.dtype)
        width = {2: 16, 4: 32, 8: 64}[np_dtype.itemsize]
        elements = st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False)
        return hnp.arrays(np_dtype, t.shape, elements=elements)

    return st.tuples(*[array(p.type) for p in fn.params]).map(list)


@st.composite
def functions_with_inputs(draw: Draw, **kwargs: object) -> tuple[Function, list[np.ndarray]]:
    """``(fn, inputs)``: a :func:`random_functions` function and inputs for it."""
    fn = draw(random_functions(**kwargs))
    return fn, draw(function_inputs(fn))
