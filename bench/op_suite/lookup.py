"""Finding the tcomp function for a tinygrad method, by name, when the method is called.

Looking up at call time (not at import) picks up functions added to tcomp after the
shim was written. A name tcomp lacks raises :class:`Unsupported`: the shim never
builds the missing op out of others.
"""

from __future__ import annotations

from typing import Any, Callable

import tcomp
import tcomp.nn
from bench.op_suite.errors import Unsupported

_NAMESPACES = {"tcomp": tcomp, "nn": tcomp.nn, "random": tcomp.random, "init": tcomp.nn.init}


def fn(*names: str, where: str = "tcomp") -> Callable[..., Any]:
    """The first of ``names`` that ``tcomp.<where>`` has (``where``: tcomp, nn,
    random, init); :class:`Unsupported` naming the first name when it has none."""
    namespace = _NAMESPACES[where]
    for name in names:
        found = getattr(namespace, name, None)
        if callable(found):
            return found
    prefix = (
        "tcomp" if where == "tcomp" else f"tcomp.{where}" if where != "init" else "tcomp.nn.init"
    )
    raise Unsupported(f"{prefix}.{names[0]}")
