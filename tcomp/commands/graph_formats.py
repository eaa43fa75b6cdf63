"""``tcomp inspect --format json|dot|svg``: the IR as data and as a Graphviz drawing.

- JSON: a graph-IR function (params, nodes with op, inputs, attrs, type and
  location, outputs), a kernel-IR program (buffers, kernels with the graph ops
  they fuse, their arguments and schedule) or a backend's source text. Keys
  keep a fixed order and the text is indented by 2, so it can be diffed.
- DOT: one node per graph op, edges labelled with the type of the value they
  carry; given a kernel program, each kernel is a ``cluster_kN`` subgraph
  holding the graph ops of its ``origin``, coloured from a fixed palette.
- SVG: the DOT text run through Graphviz's ``dot -Tsvg`` (not a Python
  dependency: a missing ``dot`` is a one-line error saying how to install it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from tcomp.commands import CliError
from tcomp.ir.graph import Function, Location, Node, Value
from tcomp.ir.kernel.kernel import Kernel, Program, Schedule
from tcomp.ir.text import format_attr

FORMATS = ("text", "json", "dot", "svg")
# Fill colours of the kernel clusters, by kernel index (repeats after the last).
PALETTE = (
    "#e6f2ff", "#fff2e6", "#e6ffe6", "#ffe6f2", "#f2e6ff",
    "#ffffe6", "#e6ffff", "#f2f2f2",
)
BORDERS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#bcbd22", "#17becf", "#7f7f7f",
)
INSTALL_GRAPHVIZ = (
    "--format svg needs Graphviz's 'dot' program, which is not on PATH: install it "
    "(apt install graphviz, brew install graphviz or conda install graphviz), "
    "or use --format dot, which needs nothing"
)


def to_json(data: dict[str, Any]) -> str:
    """The text of a JSON document: key order as built, indented by 2, ending in a newline."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------- JSON


def attr_json(value: Any) -> Any:
    """An attribute as JSON data: tuples become lists, arrays and non-finite floats
    their IR text (``dense<f32[2] [0.0, 1.0]>``, ``inf``), other values stay as they are."""
    if isinstance(value, np.ndarray):
        return format_attr(value)
    if isinstance(value, tuple):
        return [attr_json(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return format_attr(value)
    return value


def location_text(location: Location | None, path: str | None) -> str | None:
    """``file:line`` with the user's file as named on the command line (``path``)."""
    if location is None:
        return None
    file = location.file
    if path is not None and file == str(Path(path).resolve()):
        file = path
    return f"{file}:{location.line}"


def function_json(function: Function, path: str | None = None) -> dict[str, Any]:
    """A graph-IR function as JSON data (see the module docstring)."""
    return {
        "function": function.name,
        "params": [{"name": f"%{p.id}", "type": str(p.type)} for p in function.params],
        "nodes": [node_json(node, path) for node in function.nodes],
        "outputs": [f"%{value.id}" for value in function.outputs],
    }


def node_json(node: Node, path: str | None) -> dict[str, Any]:
    """One node: id, op, inputs, attrs (sorted by name), type, loc."""
    return {
        "id": f"%{node.output.id}",
        "op": node.op,
        "inputs": [f"%{value.id}" for value in node.inputs],
        "attrs": {name: attr_json(node.attrs[name]) for name in sorted(node.attrs)},
        "type": str(node.output.type),
        "loc": location_text(node.location, path),
    }


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """A kernel's schedule: parallel loop, vector widths, unroll factors, tiles, column blocks."""
    return {
        "parallel": schedule.parallel,
        "vector": dict(sorted(schedule.vector.items())),
        "unroll": dict(sorted(schedule.unroll.items())),
        "tile": dict(sorted(schedule.tile.items())),
        "columns": dict(sorted(schedule.columns.items())),
    }


def kernel_json(kernel: Kernel) -> dict[str, Any]:
    """One kernel: name, the graph ops fused into it, its arguments, its schedule."""
    from tcomp.ir.kernel.printer import type_name

    return {
        "name": kernel.name,
        "ops": list(kernel.origin),
        "args": [
            {"name": f"%{arg.name}", "access": arg.access,
             "type": f"{type_name(arg.dtype)}[{arg.size}]"}
            for arg in kernel.args
        ],
        "schedule": schedule_json(kernel.schedule),
    }


def program_json(program: Program) -> dict[str, Any]:
    """A kernel-IR program as JSON data (see the module docstring)."""
    return {
        "program": program.name,
        "params": [f"%{name}" for name in program.params],
        "outputs": [f"%{name}" for name in program.outputs],
        "buffers": [
            {"name": f"%{buffer.name}", "kind": buffer.kind, "type": str(buffer.type)}
            for buffer in program.buffers.values()
        ],
        "kernels": [kernel_json(kernel) for kernel in program.kernels],
    }


def source_json(backend: str, source: str) -> dict[str, Any]:
    """A backend's source text as JSON data."""
    return {"backend": backend, "source": source}


# ---------------------------------------------------------------------------- DOT


def dot_string(text: str) -> str:
    """A double-quoted DOT string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def origin_ids(kernel: Kernel) -> list[str]:
    """The value ids (``%6``) of the graph ops a kernel fused, from its ``origin``."""
    return [name.split()[0] for name in kernel.origin if name.startswith("%")]


def node_statement(node: Node) -> str:
    """The DOT statement of one op: a box labelled ``%6 = matmul``."""
    label = f"%{node.output.id} = {node.op}"
    return f"n{node.output.id} [label={dot_string(label)}, shape=box];"


def function_dot(function: Function, program: Program | None = None) -> str:
    """The DOT text of ``function``; with ``program``, each kernel is a cluster of the
    ops its ``origin`` names (ops in no kernel stay outside every cluster)."""
    lines = [f"digraph {dot_string(function.name)} {{", "  rankdir=TB;",
             '  node [fontname="monospace"];', '  edge [fontname="monospace", fontsize=10];']
    for param in function.params:
        label = f"%{param.id}: {param.type}"
        lines.append(f"  n{param.id} [label={dot_string(label)}, shape=ellipse];")
    by_id = {f"%{node.output.id}": node for node in function.nodes}
    clustered: set[str] = set()
    for index, kernel in enumerate(program.kernels if program is not None else ()):
        members = [by_id[i] for i in origin_ids(kernel) if i in by_id and i not in clustered]
        clustered.update(f"%{node.output.id}" for node in members)
        lines.extend(cluster_lines(kernel, index, members))
    lines.extend(
        "  " + node_statement(node) for node in function.nodes
        if f"%{node.output.id}" not in clustered
    )
    lines.append('  return [label="return", shape=plaintext];')
    lines.extend(edge_lines(function))
    lines.append("}")
    return "\n".join(lines) + "\n"


def cluster_lines(kernel: Kernel, index: int, members: list[Node]) -> list[str]:
    """``subgraph cluster_kN { ... }`` holding ``members``, coloured by ``index``."""
    fill, border = PALETTE[index % len(PALETTE)], BORDERS[index % len(BORDERS)]
    lines = [
        f"  subgraph cluster_{kernel.name} {{",
        f"    label={dot_string(kernel.name)};",
        f'    style=filled; fillcolor="{fill}"; color="{border}";',
    ]
    lines.extend("    " + node_statement(node) for node in members)
    lines.append("  }")
    return lines


def edge_lines(function: Function) -> list[str]:
    """One edge per (value, reader), labelled with the value's type; outputs go to ``return``."""
    lines = []
    for node in function.nodes:
        for value in node.inputs:
            lines.append(edge(value, f"n{node.output.id}"))
    lines.extend(edge(value, "return") for value in function.outputs)
    return lines


def edge(value: Value, target: str) -> str:
    return f"  n{value.id} -> {target} [label={dot_string(str(value.type))}];"


def render_svg(dot_text: str) -> str:
    """The SVG that Graphviz's ``dot -Tsvg`` draws for ``dot_text``."""
    program = shutil.which("dot")
    if program is None:
        raise CliError(INSTALL_GRAPHVIZ)
    try:
        done = subprocess.run(
            [program, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CliError(f"could not run {program}: {error}") from error
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise CliError(f"{program} -Tsvg failed (exit {done.returncode}): {reason}")
    return done.stdout
