"""The two C dialects the C-family renderer writes: every difference between them lives here.

Everything else (statements, expressions, helpers) is shared; a helper or an
expression asks its :class:`Dialect` for a spelling only where OpenCL C and
CUDA C differ (qualifiers, the 64-bit index type, the global, local and
group indices, barriers, local memory, the fixed work-group size, float math
names, infinity and NaN literals, 16-byte vector loads and stores).
"""

from __future__ import annotations

from dataclasses import dataclass

from tcomp.ir.errors import TcompBackendError


@dataclass(frozen=True)
class Dialect:
    """How one C dialect spells what the renderer needs."""

    name: str
    header: str  # first lines of every source (pragmas, includes)
    fp64_header: str  # added when the program uses float64
    compile_options: tuple[str, ...]  # what the runtime must pass its compiler (nvrtc, clBuild)
    kernel_prefix: str  # before ``void name(...)``
    helper_prefix: str  # before a helper's return type
    pointer_space: str  # address-space qualifier of a buffer pointer ("" for none)
    index_type: str  # a signed 64-bit integer
    unsigned_index_type: str  # its unsigned twin (wrapping arithmetic)
    byte_type: str  # an unsigned byte (bool and uint8 in memory)
    signed_byte_type: str  # a signed byte (int8)
    half_type: str  # an unsigned 16-bit integer (float16 and bfloat16 in memory, as bits)
    uint_type: str  # an unsigned 32-bit integer
    float_as_uint: str  # reinterprets a float's bits as uint_type (a function name)
    uint_as_float: str  # and back
    global_id: str  # the work-item's global index (a C expression)
    local_id: str  # the work-item's index within its work-group (a C expression)
    group_id: str  # the work-group's index (a C expression)
    group_size: str  # the number of work-items in a work-group (a C expression)
    barrier: str  # a work-group barrier that also orders local-memory accesses (a statement)
    local_space: str  # declares a work-group-shared (local) array
    launch_bounds: str  # before ``void``: the fixed work-group size, ``{size}`` filled in
    float_suffix: bool  # math functions on float are spelled expf, fabsf... (CUDA)
    inf32: str
    nan32: str
    inf64: str
    nan64: str
    # float16/bfloat16 matmuls: "mma" (PTX mma.sync, sm_80 and later), "emulated" (the
    # same kernel with the products in plain C, for tests) or "none" (the generic path);
    # see tcomp.backends.cfamily.tensor_core
    tensor_cores: str = "none"
    # a work-group reduction finishes its last 32 values within one warp with
    # __shfl_down_sync instead of local memory and barriers (CUDA); see
    # tcomp.backends.cfamily.render's _BodyWriter.warp_combine
    warp_shuffle: bool = False
    # 16-byte accesses of four consecutive 32-bit elements (see
    # tcomp.backends.cfamily.vector_nest): ``{type}`` is the four-lane vector type
    # (float4, int4), ``{pointer}`` the address of the first element, ``{value}`` the
    # vector to store; empty: the dialect has none (the scalar path is used)
    vector_load: str = ""
    vector_store: str = ""

    def math(self, name: str, dtype: str) -> str:
        """The name of the libm-style function ``name`` for ``dtype`` (float32/float64)."""
        if self.float_suffix and dtype == "float32":
            return name + "f"
        return name


OPENCL = Dialect(
    name="opencl",
    header="#pragma OPENCL FP_CONTRACT OFF\n",
    fp64_header="#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n",
    compile_options=(),  # and never -cl-fast-relaxed-math / -cl-mad-enable
    kernel_prefix="__kernel",
    helper_prefix="static inline",
    pointer_space="__global ",
    index_type="long",
    unsigned_index_type="ulong",
    byte_type="uchar",
    signed_byte_type="char",  # signed in OpenCL C
    half_type="ushort",
    uint_type="uint",
    float_as_uint="as_uint",
    uint_as_float="as_float",
    global_id="(long)get_global_id(0)",
    local_id="(long)get_local_id(0)",
    group_id="(long)get_group_id(0)",
    group_size="(long)get_local_size(0)",
    barrier="barrier(CLK_LOCAL_MEM_FENCE);",
    local_space="__local",
    launch_bounds="__attribute__((reqd_work_group_size({size}, 1, 1))) ",
    float_suffix=False,
    inf32="INFINITY",
    nan32="NAN",
    inf64="((double)INFINITY)",
    nan64="((double)NAN)",
    vector_load="vload4(0, {pointer})",  # needs only element alignment
    vector_store="vstore4({value}, 0, {pointer});",
)

CUDA = Dialect(
    name="cuda",
    header="// compile with --fmad=false: every operation rounds on its own, as numpy's do\n",
    fp64_header="",
    compile_options=("--fmad=false",),
    kernel_prefix='extern "C" __global__',
    helper_prefix="static __device__ __forceinline__",
    pointer_space="",
    index_type="long long",
    unsigned_index_type="unsigned long long",
    byte_type="unsigned char",
    signed_byte_type="signed char",
    half_type="unsigned short",
    uint_type="unsigned int",
    float_as_uint="__float_as_uint",
    uint_as_float="__uint_as_float",
    global_id="((long long)blockIdx.x * blockDim.x + threadIdx.x)",
    local_id="(long long)threadIdx.x",
    group_id="(long long)blockIdx.x",
    group_size="(long long)blockDim.x",
    barrier="__syncthreads();",
    local_space="__shared__",
    launch_bounds="__launch_bounds__({size}) ",
    float_suffix=True,
    inf32="__int_as_float(0x7f800000)",
    nan32="__int_as_float(0x7fc00000)",
    inf64="__longlong_as_double(0x7ff0000000000000LL)",
    nan64="__longlong_as_double(0x7ff8000000000000LL)",
    tensor_cores="mma",
    warp_shuffle=True,
    # one ld.global.v4 / st.global.v4: the address must be a multiple of 16 bytes
    vector_load="*reinterpret_cast<const {type}*>({pointer})",
    vector_store="*reinterpret_cast<{type}*>({pointer}) = {value};",
)

DIALECTS = {"opencl": OPENCL, "cuda": CUDA}


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name`` ("opencl" or "cuda")."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise TcompBackendError(
            f"c-family renderer: unknown dialect {name!r} (expected one of {sorted(DIALECTS)})"
        ) from None
