"""Graph-IR passes: small, named, composable ``Function -> Function`` rewrites.

Each pass lives in its own module, never mutates its input in a way the
caller can see, and leaves IR that verifies. :data:`PASSES` maps the names
that pipelines (and the command line) use to the pass functions::

    from tcomp.ir.passes import run_pipeline
    optimised = run_pipeline(fn)                        # simplify, cse, dce
    checked = run_pipeline(fn, ("cse", "dce"), verify_each=True)
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.graph import Function
from tcomp.ir.passes.cse import cse
from tcomp.ir.passes.dce import dce
from tcomp.ir.passes.simplify import simplify
from tcomp.ir.verifier import verify

Pass = Callable[[Function], Function]

PASSES: dict[str, Pass] = {
    "simplify": simplify,
    "cse": cse,
    "dce": dce,
}

DEFAULT_PIPELINE: tuple[str, ...] = ("simplify", "cse", "dce")


# The variable that turns verification on for ``jit`` (read by
# ``tcomp.backends.options.CompileOptions.from_environment``, never in ``ir``).
VERIFY_PASSES_ENV = "TCOMP_VERIFY_PASSES"


def run_pipeline(
    fn: Function, names: Sequence[str] | str = DEFAULT_PIPELINE, verify_each: bool = False
) -> Function:
    """Runs the named passes in order (``names`` may also be one string ``"simplify,cse"``).

    Raises :class:`TcompArgumentError` for an unknown pass name, before any
    pass runs. With ``verify_each`` the input is verified first and the
    result of every pass after it, so a verifier error names the pass that
    broke the IR. ``jit`` passes ``CompileOptions.verify_passes``
    (``TCOMP_VERIFY_PASSES=1``, as CI sets); this function reads no environment.
    """
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in names if name not in PASSES]
    if unknown:
        raise TcompArgumentError(
            f"unknown pass {', '.join(map(repr, unknown))}: known passes are {', '.join(PASSES)}"
        )
    if verify_each:
        verify(fn)
    for name in names:
        fn = with_regions(PASSES[name])(fn)
        if verify_each:
            verify(fn, pass_name=name)
    return fn


def with_regions(pass_fn: Pass) -> Pass:
    """``pass_fn`` applied to a function and, inside out, to the regions of its
    control-flow nodes (a scan's body is optimised like any function: its
    parameters and outputs stay, so the node's types do not change)."""

    def run(fn: Function) -> Function:
        if any(node.regions for node in fn.nodes):
            nodes = [
                dataclasses.replace(node, regions=tuple(run(r) for r in node.regions))
                if node.regions else node
                for node in fn.nodes
            ]
            fn = Function(fn.name, list(fn.params), nodes, list(fn.outputs), dict(fn.metadata))
        return pass_fn(fn)

    return run


__all__ = ["DEFAULT_PIPELINE", "PASSES", "Pass", "cse", "dce", "run_pipeline", "simplify", "with_regions"]
