"""``tcomp.debug``: ``print`` and ``callback`` inside ``jit`` (host round trips).

``tcomp.debug.print("loss {x}", x=loss)`` prints once per call of the jitted
function, after its kernels ran, with that call's values; ``tcomp.debug.callback(fn,
*xs)`` calls host code on them the same way. See :mod:`tcomp.frontend.debug`.
"""

from tcomp.frontend.debug import callback, print

__all__ = ["callback", "print"]
