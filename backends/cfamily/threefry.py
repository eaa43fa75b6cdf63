"""The C helper of the kernel ops ``threefry2x32_0``/``_1``: Threefry-2x32-20 in uint arithmetic.

One definition per program (``(kind, dtype) = ("threefry2x32", "int32")`` among the
helpers of :mod:`tcomp.backends.cfamily.helpers`); a ``Call`` renders as
``tc_threefry2x32_i32(k0, k1, x0, x1, word)`` with the word a constant, so after
inlining the compiler drops the other word's last steps, and two calls on the same
operands (both words) are one computation. OpenCL C::

    static inline int tc_threefry2x32_i32(int k0, int k1, int c0, int c1, int word) {
      /* Threefry-2x32-20 (Random123), in uint: additions wrap */
      const uint ks0 = (uint)k0, ks1 = (uint)k1, ks2 = ks0 ^ ks1 ^ 0x1BD11BDAu;
      uint x0 = (uint)c0 + ks0, x1 = (uint)c1 + ks1;
      x0 += x1; x1 = ((x1 << 13) | (x1 >> 19)) ^ x0;
      ...
      x0 += ks1; x1 += ks2 + 1u;
      ...
      return (int)(word ? x1 : x0);
    }

Rotations are two shifts by constants in 1..31 (defined for unsigned operands), which
OpenCL's and CUDA's compilers turn into one rotate (``SHF.L.W`` on NVIDIA GPUs). The
algorithm and its constants are :mod:`tcomp.ir.threefry`'s.
"""

from __future__ import annotations

from tcomp.backends.cfamily.dialect import Dialect
from tcomp.ir.threefry import BLOCKS, PARITY, ROTATIONS

KIND = "threefry2x32"
NAME = "tc_threefry2x32_i32"


def render_threefry(dialect: Dialect) -> str:
    """The C definition of ``tc_threefry2x32_i32`` in ``dialect`` (see the module docstring)."""
    u = dialect.uint_type
    lines = [
        f"{dialect.helper_prefix} int {NAME}(int k0, int k1, int c0, int c1, int word) {{",
        f"  /* Threefry-2x32-20 (Random123), in {u}: additions wrap */",
        f"  const {u} ks0 = ({u})k0, ks1 = ({u})k1, ks2 = ks0 ^ ks1 ^ 0x{PARITY:08X}u;",
        f"  {u} x0 = ({u})c0 + ks0, x1 = ({u})c1 + ks1;",
    ]
    for block in range(BLOCKS):
        for r in ROTATIONS[block % 2]:
            lines.append(f"  x0 += x1; x1 = ((x1 << {r}) | (x1 >> {32 - r})) ^ x0;")
        lines.append(f"  x0 += ks{(block + 1) % 3}; x1 += ks{(block + 2) % 3} + {block + 1}u;")
    lines += ["  return (int)(word ? x1 : x0);", "}"]
    return "\n".join(lines) + "\n"
