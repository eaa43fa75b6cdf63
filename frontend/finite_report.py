"""Naming the op behind a non-finite value that a checked call found (the error path).

:mod:`tcomp.frontend.finite_check` found the first value a kernel wrote that holds a
NaN or an infinity. Here the graph ops that kernel computed (the value's producer and
every node inlined into it, back to buffers: arguments and earlier kernel outputs,
which are finite) are replayed one by one with each primitive's numpy reference rule
on those same inputs. The first op whose result is not finite while its inputs are is
the culprit: :class:`NonFiniteReport` names it, its ``file:line`` (autodiff's
:class:`~tcomp.ir.autodiff.BackwardLocation` says the backward pass, the line being
the forward op whose gradient it is), the kernel and the ops it fuses, the shapes, and
the ranges of the op's inputs. When a NaN came in through an argument, the report
names the argument instead. When the replay stays finite (the compiled arithmetic
differs from numpy's), it names the kernel and the value it wrote.
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass
from typing import Any, NoReturn, Sequence

import numpy as np

from tcomp.frontend.kernel_stats import location_text
from tcomp.ir.autodiff import BackwardLocation
from tcomp.ir.errors import TcompFloatingPointError
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives import get_primitive
from tcomp.ir.types import is_float, short_name

OPS_SHOWN = 8  # fused ops the message lists before "..."


@dataclass(frozen=True)
class ValueRange:
    """One array as the report shows it: what it is (``%6``, ``argument x``, ``a
    constant``), its type, the range of its finite elements and its non-finite counts."""

    name: str
    type: str
    size: int
    low: float | None  # None: no finite element
    high: float | None
    nan: int
    posinf: int
    neginf: int

    @classmethod
    def of(cls, name: str, value: Value, array: np.ndarray) -> "ValueRange":
        if not is_float(value.dtype):
            flat = np.asarray(array).reshape(-1)
            low = float(flat.min()) if flat.size else None
            high = float(flat.max()) if flat.size else None
            return cls(name, _type_text(value), flat.size, low, high, 0, 0, 0)
        flat = np.asarray(array, dtype=np.float64).reshape(-1)
        finite = flat[np.isfinite(flat)]
        return cls(
            name, _type_text(value), flat.size,
            float(finite.min()) if finite.size else None,
            float(finite.max()) if finite.size else None,
            int(np.isnan(flat).sum()), int(np.isposinf(flat).sum()), int(np.isneginf(flat).sum()),
        )

    @property
    def non_finite(self) -> int:
        return self.nan + self.posinf + self.neginf

    def counts_text(self) -> str:
        """``2 NaN, 1 +inf of 12 elements`` (only the kinds present)."""
        parts = [f"{count} {kind}" for count, kind in
                 ((self.nan, "NaN"), (self.posinf, "+inf"), (self.neginf, "-inf")) if count]
        return f"{', '.join(parts)} of {self.size} element{'s' if self.size != 1 else ''}"

    def range_text(self) -> str:
        """``min -1.5, max 2, all finite`` or ``min 0, max 3, 2 NaN of 6 elements``."""
        if self.low is None:
            span = "no finite element"
        else:
            span = f"min {self.low:.6g}, max {self.high:.6g}"
        return f"{span}, {'all finite' if not self.non_finite else self.counts_text()}"


@dataclass(frozen=True)
class NonFiniteReport:
    """What a checked call found. ``kind``: ``op`` (an op made the first non-finite value
    from finite inputs), ``argument`` (an argument already held one), ``constant`` (a
    constant of the program holds one), ``kernel`` (the compiled kernel wrote one that
    its ops replayed with numpy do not make)."""

    function: str
    backend: str
    kind: str
    op: str | None
    node: str | None  # %7
    location: str | None  # model.py:12
    pass_name: str | None  # forward | backward
    kernel: str | None  # k2 (None: the reference backend runs op by op)
    fused_ops: tuple[str, ...]
    output: ValueRange
    inputs: tuple[ValueRange, ...]
    argument: str | None = None  # the argument path (kind "argument")
    written: ValueRange | None = None  # the kernel output the scan found
    source: str | None = None  # the text of the user's line

    def headline(self) -> str:
        """The first line of the error: what went non-finite, where."""
        what = _kinds(self.output)
        where = f"{self.op} at {self.location or 'an unknown line'}"
        if self.pass_name:
            where += f" ({self.pass_name} pass)"
        if self.kind == "argument":
            held = next((r for r in self.inputs if r.name == f"argument {self.argument}"), None)
            counts = f" ({held.counts_text()})" if held is not None else ""
            return (f"{self.function}: argument {self.argument} already holds non-finite "
                    f"values{counts}; {where} passes them on")
        if self.kind == "constant":
            return f"{self.function}: {where} reads a constant that holds {what}"
        if self.kind == "kernel":
            writer = f"kernel {self.kernel}" if self.kernel else "the program"
            return (f"{self.function}: {writer} wrote {what} into {self.node} "
                    f"({where}), but its ops replayed with numpy stay finite: the "
                    "compiled arithmetic differs from numpy's here")
        return f"{self.function}: {where} produced {what} from finite inputs"

    def rows(self) -> list[tuple[str, str]]:
        """The report as (field, text) rows: ``tcomp inspect --check-finite`` prints them."""
        rows = [("function", self.function), ("backend", self.backend)]
        if self.argument is not None:
            rows.append(("argument", self.argument))
        rows += [
            ("op", f"{self.node} = {self.op}" if self.node else str(self.op)),
            ("line", self.location or "-"),
            ("source", self.source or "-"),
            ("pass", _pass_text(self.pass_name, self.location)),
            ("kernel", f"{self.kernel} ({self.backend})" if self.kernel
             else f"- ({self.backend} runs op by op)"),
            ("fused ops", _ops_text(self.fused_ops) or "-"),
            ("output", f"{self.output.name}: {self.output.type}, {self.output.range_text()}"),
        ]
        for index, value in enumerate(self.inputs):
            rows.append((f"input {index}", f"{value.name}: {value.type}, {value.range_text()}"))
        if self.written is not None and self.written.name != self.output.name:
            rows.append(("kernel wrote", f"{self.written.name}: {self.written.type}, "
                         f"{self.written.range_text()}"))
        return rows

    def message(self) -> str:
        """The error message: the headline, then one indented line per detail."""
        lines = [self.headline()]
        width = max(len(name) for name, _ in self.rows())
        lines += [f"  {name.ljust(width)}  {text}" for name, text in self.rows()[2:]]
        return "\n".join(lines)


def raise_non_finite(
    program: Any, value: Value, hosts: dict[Value, np.ndarray], params: Sequence[np.ndarray]
) -> NoReturn:
    """Raises the :class:`TcompFloatingPointError` for ``value`` (the first non-finite
    kernel output of a checked call of ``program``; ``hosts``: the outputs scanned so
    far, ``params``: the call's inputs, both on the host)."""
    report = build_report(program, value, hosts, params)
    raise TcompFloatingPointError(report.message(), report)


def build_report(
    program: Any, value: Value, hosts: dict[Value, np.ndarray], params: Sequence[np.ndarray]
) -> NonFiniteReport:
    """The :class:`NonFiniteReport` of ``value`` (see :func:`raise_non_finite`)."""
    function: Function = program.optimized
    paths = dict(zip(function.params, program.leaf_paths))
    names = _input_names(function, paths)
    known: dict[Value, np.ndarray] = dict(zip(function.params, params))
    known.update((v, a) for v, a in hosts.items() if v is not value)
    kernel, fused = _kernel_of(program, value)
    written = ValueRange.of(f"%{value.id}", value, hosts[value])
    common = {
        "function": program.traced.name, "backend": program.signature.backend,
        "kernel": kernel, "fused_ops": fused, "written": written,
    }
    producers = function.producers()
    order = {node.output: index for index, node in enumerate(function.nodes)}
    replayed = _replay(_region(function, value, known, producers), known)
    node = producers[value]
    if value in replayed and not _finite(known[value]):
        # follow the non-finite values back to the op that made one from finite inputs
        # (a NaN that a select drops on the way, log's in where(x > 0, log(x), 0), is no
        # culprit: it does not reach the value)
        while True:
            bad = sorted(
                (v for v in node.inputs if is_float(v.dtype) and not _finite(known[v])),
                key=lambda v: order.get(v, -1),
            )
            if not bad or bad[0] not in replayed:
                break
            node = producers[bad[0]]
        ranges = tuple(ValueRange.of(names[v], v, known[v]) for v in node.inputs)
        kind, argument = "op", None
        if bad and bad[0] in paths:
            kind, argument = "argument", paths[bad[0]]
        elif bad:
            kind = "constant"
        return NonFiniteReport(
            kind=kind, op=node.op, node=f"%{node.output.id}", location=_location(node),
            pass_name=_pass(node), inputs=ranges, argument=argument, source=_source(node),
            output=ValueRange.of(f"%{node.output.id}", node.output, known[node.output]),
            **common,
        )
    ranges = tuple(ValueRange.of(names[v], v, known[v]) for v in node.inputs if v in known)
    return NonFiniteReport(
        kind="kernel", op=node.op, node=f"%{value.id}", location=_location(node),
        pass_name=_pass(node), output=written, inputs=ranges, source=_source(node), **common,
    )


def _replay(region: list[Node], known: dict[Value, np.ndarray]) -> set[Value]:
    """Evaluates ``region`` in order with the numpy reference rules, adding each result
    to ``known``; returns the values it computed (it stops at an op it cannot run)."""
    replayed: set[Value] = set()
    with np.errstate(all="ignore"):
        for node in region:
            try:
                inputs = [known[v] for v in node.inputs]
                result = get_primitive(node.op).evaluate(inputs, node.attrs, node.output.dtype)
            except Exception:  # an op the replay cannot run: the report names the kernel
                break
            known[node.output] = np.asarray(result).reshape(node.output.shape)
            replayed.add(node.output)
    return replayed


def _region(
    function: Function, value: Value, known: dict[Value, Any], producers: dict[Value, Node]
) -> list[Node]:
    """The nodes that compute ``value`` from ``known`` values, in node order."""
    needed: set[int] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        node = producers.get(current)
        if node is None or id(node) in needed or (current in known and current is not value):
            continue
        needed.add(id(node))
        stack.extend(v for v in node.inputs if v not in known)
    return [node for node in function.nodes if id(node) in needed]


def _input_names(function: Function, paths: dict[Value, str]) -> dict[Value, str]:
    """How the report names an op's inputs: ``argument x`` for a parameter (by its pytree
    path), ``%4 constant``, ``%6 mul (model.py:12)`` for a value computed at a line."""
    names = {param: f"argument {path}" for param, path in paths.items()}
    for node in function.nodes:
        name = f"%{node.output.id} {node.op}"
        if node.op != "constant" and node.location is not None:
            name += f" ({_location(node)})"
        names[node.output] = name
    return names


def _kernel_of(program: Any, value: Value) -> tuple[str | None, tuple[str, ...]]:
    """The kernel that writes ``value``'s buffer and the graph ops it fuses; (None, ())
    on a backend without kernels (reference)."""
    try:
        kernels = program.executable.program.kernels
    except Exception:  # no kernel program (reference), or not kept
        return None, ()
    buffer = f"t{value.id}"
    writers = [
        kernel for kernel in kernels
        if any(arg.name == buffer and arg.access != "in" for arg in kernel.args)
    ]
    if not writers:
        return None, ()
    return writers[-1].name, tuple(writers[-1].origin)


def _finite(array: np.ndarray) -> bool:
    if array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    return bool(np.isfinite(array).all())


def _location(node: Node) -> str | None:
    return location_text(node.location) if node.location is not None else None


def _source(node: Node) -> str | None:
    """The text of the node's line in the user's file ("" when it cannot be read)."""
    if node.location is None:
        return None
    text = linecache.getline(node.location.file, node.location.line).strip()
    return text or None


def _pass_text(pass_name: str | None, location: str | None) -> str:
    if pass_name == "backward":
        return f"backward (part of the gradient of the op at {location})"
    return pass_name or "-"


def _pass(node: Node) -> str | None:
    if node.location is None:
        return None
    return "backward" if isinstance(node.location, BackwardLocation) else "forward"


def _type_text(value: Value) -> str:
    return f"{short_name(value.dtype)}[{','.join(map(str, value.shape))}]"


def _kinds(summary: ValueRange) -> str:
    kinds = [k for k, n in (("NaN", summary.nan), ("+inf", summary.posinf),
                            ("-inf", summary.neginf)) if n]
    return " and ".join(kinds) or "non-finite values"


def _ops_text(ops: Sequence[str]) -> str:
    if len(ops) > OPS_SHOWN:
        half = OPS_SHOWN // 2
        ops = [*ops[:half], f"... {len(ops) - OPS_SHOWN} more", *ops[-half:]]
    return ", ".join(ops)
