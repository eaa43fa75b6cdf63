"""Collectives: ops whose result combines the same value on every process (MPI rank).

Every process runs the same graph; each collective node reads this process's value and
returns what the collective gives this process. ``ranks`` (the number of processes the
program was traced for) is an attribute, so shape rules need no communicator:

- ``all_reduce_sum``, ``all_reduce_mean``, ``all_reduce_max``, ``all_reduce_min``
  ``{ranks}``: every rank's ``x`` combined elementwise; same type as ``x``.
- ``all_gather {axis, ranks}``: every rank's ``x`` concatenated along ``axis`` in rank
  order (``axis`` grows ``ranks`` times).
- ``reduce_scatter_sum``, ``reduce_scatter_mean`` ``{axis, ranks}``: the sum (mean) of
  every rank's ``x``, of which rank ``r`` keeps block ``r`` of ``ranks`` equal blocks
  along ``axis`` (its length must divide by ``ranks``).
- ``broadcast_from {root, ranks}``: rank ``root``'s ``x`` on every rank.
- ``reduce_to_root {root, ranks}``: the sum of every rank's ``x`` on rank ``root``,
  zeros on the others (the transpose of ``broadcast_from``).

References: with ``ranks`` 1 each is the identity and needs nothing else; with more,
the reference calls the :class:`CollectiveRunner` that :func:`set_runner` installed
(:mod:`tcomp.distributed` installs one over MPI), so the numpy executor defines the
multi-process meaning. ``ir`` imports no MPI itself. The primitives are marked
``communicates``: graph passes never fold them (a fold would talk to the other ranks at
compile time). The compiled backends have no kernel lowering for them: ``jit`` splits a
program at each collective and runs it on the host between kernel groups
(:mod:`tcomp.frontend.distributed_split`).

Gradients are the transposes of the linear maps across ranks (each rank's cotangent
is that of its own output; a rank's gradient is the derivative of the sum over ranks of
every rank's output paired with its cotangent)::

    all_reduce_sum  y_r = sum_s x_s             ct_x_s = sum_r ct_r     = all_reduce_sum(ct)
    all_reduce_mean y_r = mean_s x_s            ct_x_s = mean_r ct_r    = all_reduce_mean(ct)
    all_reduce_max  y_r = max_s x_s             ct_x_s = [x_s == y] * sum_r ct_r / #{s: x_s == y}
                    (ties share the gradient equally, as reduce_max does)
    all_gather      y_r = concat_s x_s          ct_x_s = block s of sum_r ct_r = reduce_scatter_sum(ct)
    reduce_scatter  y_r = block r of sum_s x_s  ct_x_s = concat_r ct_r  = all_gather(ct) (/ ranks: mean)
    broadcast_from  y_r = x_root                ct_x_s = [s == root] sum_r ct_r = reduce_to_root(ct)
    reduce_to_root  y_root = sum_s x_s          ct_x_s = ct_root        = broadcast_from(ct)
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from tcomp.ir.errors import TcompDistributedError
from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import FLOAT_DTYPES, TensorType

ALL_REDUCE_OPS = ("sum", "mean", "max", "min")
REDUCE_SCATTER_OPS = ("sum", "mean")
COLLECTIVE_OPS: frozenset[str] = frozenset(
    [f"all_reduce_{op}" for op in ALL_REDUCE_OPS]
    + [f"reduce_scatter_{op}" for op in REDUCE_SCATTER_OPS]
    + ["all_gather", "broadcast_from", "reduce_to_root"]
)


class CollectiveRunner(Protocol):
    """Runs one collective across the processes (installed by :func:`set_runner`)."""

    def size(self) -> int:
        """The number of processes."""

    def run(self, op: str, x: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
        """The result of collective ``op`` on this process's ``x``."""


_runner: list[CollectiveRunner] = []


def set_runner(runner: CollectiveRunner | None) -> None:
    """Installs the runner the references call when ``ranks`` is above 1 (None: none)."""
    _runner.clear()
    if runner is not None:
        _runner.append(runner)


def run_collective(op: str, x: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """The reference meaning of collective ``op`` on this process's ``x``."""
    ranks = attrs["ranks"]
    if ranks == 1:
        return np.array(x, copy=True)  # one process: every collective is the identity
    if not _runner:
        raise TcompDistributedError(
            f"{op}: a collective across {ranks} ranks needs tcomp.distributed (MPI): "
            "import tcomp.distributed and launch with mpiexec"
        )
    runner = _runner[0]
    size = runner.size()
    if size != ranks:
        raise TcompDistributedError(
            f"{op}: the program was traced for {ranks} ranks but runs on {size}; "
            "trace it again in this communicator"
        )
    return runner.run(op, x, attrs)


# ---------------------------------------------------------------------------
# shape and dtype rules


def _check_ranks(op: str, t: TensorType, attrs: Mapping[str, Any]) -> int:
    ranks = attrs["ranks"]
    if ranks < 1:
        raise shape_error(op, f"ranks must be at least 1, got {ranks}", t)
    if "root" in attrs and not attrs["root"] < ranks:
        raise shape_error(
            op, f"root {attrs['root']} is not a rank: the ranks are 0 to {ranks - 1}", t
        )
    return ranks


def _check_dtype(op: str, t: TensorType, reduction: str | None) -> None:
    if reduction == "mean" and t.dtype not in FLOAT_DTYPES:
        raise type_error(op, "the mean needs a floating-point dtype (use the sum and divide)", t)
    if reduction == "sum" and t.dtype == "bool":
        raise type_error(op, "a sum of bools is not defined; convert first (or use max/min)", t)


def _same_type_rule(op: str, reduction: str | None):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        (t,) = types
        _check_ranks(op, t, attrs)
        _check_dtype(op, t, reduction)
        return t

    return infer


def _all_gather_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    ranks = _check_ranks("all_gather", t, attrs)
    axis = attrs["axis"]
    return t.with_shape([d * ranks if i == axis else d for i, d in enumerate(t.shape)])


def _reduce_scatter_rule(op: str, reduction: str):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        (t,) = types
        ranks = _check_ranks(op, t, attrs)
        _check_dtype(op, t, reduction)
        axis = attrs["axis"]
        if t.shape[axis] % ranks:
            raise shape_error(
                op,
                f"axis {axis} of length {t.shape[axis]} cannot be split into {ranks} equal "
                "blocks (one per rank)",
                t,
            )
        return t.with_shape([d // ranks if i == axis else d for i, d in enumerate(t.shape)])

    return infer


# ---------------------------------------------------------------------------
# gradients (the algebra is in the module docstring)


def _self_transpose(op: str):
    def vjp(b, n, ct):
        return [b.emit(op, ct, **n.attrs)]

    return vjp


def _all_reduce_extreme_vjp(b, n, ct):
    x, ranks = n.inputs[0], n.attrs["ranks"]
    mask = b.convert(b.eq(x, n.output), dtype=x.dtype)
    holders = b.all_reduce_sum(mask, ranks=ranks)
    total = b.all_reduce_sum(ct, ranks=ranks)
    return [b.mul(mask, b.div(total, holders))]


def _all_gather_vjp(b, n, ct):
    return [b.reduce_scatter_sum(ct, axis=n.attrs["axis"], ranks=n.attrs["ranks"])]


def _reduce_scatter_vjp(mean: bool):
    def vjp(b, n, ct):
        gathered = b.all_gather(ct, axis=n.attrs["axis"], ranks=n.attrs["ranks"])
        return [b.scale(gathered, 1.0 / n.attrs["ranks"]) if mean else gathered]

    return vjp


def _broadcast_vjp(b, n, ct):
    return [b.reduce_to_root(ct, root=n.attrs["root"], ranks=n.attrs["ranks"])]


def _reduce_to_root_vjp(b, n, ct):
    return [b.broadcast_from(ct, root=n.attrs["root"], ranks=n.attrs["ranks"])]


# ---------------------------------------------------------------------------


def _reference(op: str):
    def reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
        return run_collective(op, inputs[0], attrs)

    return reference


def _register(op: str, infer, vjp, attrs: dict[str, AttrKind]) -> None:
    register(Primitive(op, infer, _reference(op), vjp, attrs, num_inputs=1, communicates=True))


_RANKS = {"ranks": AttrKind.INDEX}
for _op in ALL_REDUCE_OPS:
    _name = f"all_reduce_{_op}"
    _extreme = _op in ("max", "min")
    _register(
        _name,
        _same_type_rule(_name, None if _extreme else _op),
        _all_reduce_extreme_vjp if _extreme else _self_transpose(_name),
        _RANKS,
    )
_register("all_gather", _all_gather_infer, _all_gather_vjp, {"axis": AttrKind.AXIS, **_RANKS})
for _op in REDUCE_SCATTER_OPS:
    _name = f"reduce_scatter_{_op}"
    _register(
        _name,
        _reduce_scatter_rule(_name, _op),
        _reduce_scatter_vjp(_op == "mean"),
        {"axis": AttrKind.AXIS, **_RANKS},
    )
_register(
    "broadcast_from",
    _same_type_rule("broadcast_from", None),
    _broadcast_vjp,
    {"root": AttrKind.INDEX, **_RANKS},
)
_register(
    "reduce_to_root",
    _same_type_rule("reduce_to_root", "sum"),
    _reduce_to_root_vjp,
    {"root": AttrKind.INDEX, **_RANKS},
)
