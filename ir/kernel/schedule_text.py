"""The text of a kernel's :class:`~tcomp.ir.kernel.kernel.Schedule`, printed and parsed.

One line under the kernel's header, only when the schedule is not the default::

    schedule {parallel=i0, vector={i1: 16}, unroll={i0: 12, i1: 32}, tile={i0: 36, r0: 256}}
    schedule {vector={i0: 16}, columns={i0: 1024}}
    schedule {parallel=i0, gpu={kind: tiled_matmul, global: 262144, local: 256, tm: 8, tn: 8}}
    schedule {parallel=i0, gpu={kind: group_reduction, global: 2048, local: 256, collapse: 1}}

``parallel`` names a loop variable; ``vector``, ``unroll``, ``tile`` and ``columns``
map loop variables to ints (the CPU's blocking and column blocks); ``gpu`` is the launch
a GPU backend chose (:class:`~tcomp.ir.kernel.kernel.GpuLaunch`: ``kind`` one of
``GPU_KINDS``, then ``global``, and ``local``, ``collapse``, ``tm``, ``tn``,
``coarsen`` when not at their defaults or when they belong to the kind).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tcomp.ir.kernel.kernel import GPU_KINDS, GpuLaunch, Schedule
from tcomp.ir.line_parser import LineParser

SCHEDULE_MAPS = ("vector", "unroll", "tile", "columns")
_GPU_FIELDS = {  # text name -> GpuLaunch field
    "global": "global_size",
    "local": "local_size",
    "collapse": "collapse",
    "tm": "tm",
    "tn": "tn",
    "coarsen": "coarsen",
}
_GPU_DEFAULTS = {f.name: f.default for f in dataclasses.fields(GpuLaunch)}
_KIND_FIELDS = {  # the fields that mean something for a kind: printed even at defaults
    "tiled_matmul": ("tm", "tn"),
    "coarsened": ("collapse", "coarsen"),
    "vector": ("collapse", "coarsen"),
    "nest": ("collapse",),
    "group_reduction": ("collapse",),
}


def format_schedule(schedule: Schedule) -> str:
    """``schedule {parallel=i0, vector={i1: 16}, unroll={...}, tile={...}, columns={...},
    gpu={...}}``."""
    parts = []
    if schedule.parallel is not None:
        parts.append(f"parallel={schedule.parallel}")
    for name in SCHEDULE_MAPS:
        mapping = getattr(schedule, name)
        if mapping:
            inner = ", ".join(f"{k}: {v}" for k, v in mapping.items())
            parts.append(f"{name}={{{inner}}}")
    if schedule.gpu is not None:
        parts.append(f"gpu={{{format_gpu_launch(schedule.gpu)}}}")
    return "schedule {" + ", ".join(parts) + "}"


def format_gpu_launch(launch: GpuLaunch) -> str:
    """``kind: nest, global: 6400, collapse: 2``: fields at their defaults are left out,
    except ``global`` and the ones of the kind (a tiled matmul's ``tm`` and ``tn``, a
    nest's or a group reduction's ``collapse``, a coarsened nest's ``coarsen``)."""
    parts = [f"kind: {launch.kind}"]
    shown = ("global_size", *_KIND_FIELDS.get(launch.kind, ()))
    for text, field_name in _GPU_FIELDS.items():
        value = getattr(launch, field_name)
        if field_name in shown or value != _GPU_DEFAULTS[field_name]:
            parts.append(f"{text}: {value}")
    return ", ".join(parts)


def parse_schedule(parser: LineParser) -> Schedule:
    """The schedule on ``parser``'s line (which starts with ``schedule``)."""
    parser.expect("schedule")
    parser.expect("{")
    schedule = Schedule()
    seen: set[str] = set()

    def factor() -> tuple[str, int]:
        var = parser.expect_kind("ident", "a loop variable")
        parser.expect(":")
        return var.text, parser.parse_int()

    def entry() -> None:
        key = parser.expect_kind("ident", "parallel, vector, unroll, tile, columns or gpu")
        if key.text in seen:
            raise parser.error(f"{key.text} is given twice", key)
        seen.add(key.text)
        parser.expect("=")
        if key.text == "parallel":
            schedule.parallel = parser.expect_kind("ident", "a loop variable").text
        elif key.text in SCHEDULE_MAPS:
            parser.expect("{")
            setattr(schedule, key.text, dict(parser.comma_list("}", factor)))
        elif key.text == "gpu":
            schedule.gpu = _parse_gpu_launch(parser)
        else:
            raise parser.error(
                f"expected parallel, vector, unroll, tile, columns or gpu, found {key.text!r}", key
            )

    parser.comma_list("}", entry)
    parser.expect_end()
    return schedule


def _parse_gpu_launch(parser: LineParser) -> GpuLaunch:
    """``{kind: <kind>, global: N, ...}`` after ``gpu=``."""
    start = parser.expect("{")
    values: dict[str, Any] = {}

    def entry() -> None:
        key = parser.expect_kind("ident", "kind, global, local, collapse, tm, tn or coarsen")
        if key.text in values:
            raise parser.error(f"gpu: {key.text} is given twice", key)
        parser.expect(":")
        if key.text == "kind":
            kind = parser.expect_kind("ident", "a GPU kernel kind")
            if kind.text not in GPU_KINDS:
                raise parser.error(
                    f"gpu: unknown kind {kind.text!r} (one of {', '.join(GPU_KINDS)})", kind
                )
            values["kind"] = kind.text
        elif key.text in _GPU_FIELDS:
            values[key.text] = parser.parse_int()
        else:
            raise parser.error(
                f"gpu: expected kind, global, local, collapse, tm, tn or coarsen, found "
                f"{key.text!r}",
                key,
            )

    parser.comma_list("}", entry)
    for required in ("kind", "global"):
        if required not in values:
            raise parser.error(f"gpu: the launch needs {required}", start)
    fields = {_GPU_FIELDS.get(key, key): value for key, value in values.items()}
    return GpuLaunch(**fields)
