"""The parallel-for helpers, in LLVM IR: run chunks of a loop on pthreads.

``tcomp.parallel(task, buffers, n)`` (one per module, shared by every parallel
kernel) splits ``0 .. n`` into ``num_threads`` chunks, starts
``num_threads - 1`` pthreads on the chunks after the first, runs the first
chunk on the calling thread and joins the others (a thread that cannot be
created runs its chunk inline, so the result never depends on thread creation
succeeding). ``task`` points at the kernel's task, ``void(ptr buffers, i64
start, i64 end)``, called indirectly once per chunk. ``num_threads`` is a
constant of the module, chosen at compile time. ``pthread_create`` and
``pthread_join`` are resolved by the runtime (see ``runtime.py``).

Creating threads costs tens to hundreds of microseconds per call, so when
the runtime finds libgomp it asks for :func:`render_gomp_parallel` instead:
the same split, on libgomp's persistent thread pool (``GOMP_parallel``).
"""

from __future__ import annotations

from llvmlite import ir

from tcomp.backends.llvm.exprs import I32, I64, PTR

TASK = ir.LiteralStructType([PTR, PTR, I64, I64])  # task function, buffers, start, end
GOMP_FLAG = "tcomp_use_gomp"  # runtime-owned i32: libgomp may be used (cleared after fork)
TASK_FN = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
RUNNER_FN = ir.FunctionType(ir.VoidType(), [PTR, PTR, I64])  # task, buffers, n
RUNNER = "tcomp.parallel"


class _IndirectCallee:
    """A task function pointer loaded at run time, in the form llvmlite's ``call`` wants
    (it reads the callee's function type, which an opaque pointer does not carry)."""

    def __init__(self, pointer: ir.Value) -> None:
        self.pointer = pointer
        self.type = PTR
        self.function_type = TASK_FN

    def get_reference(self) -> str:
        return self.pointer.get_reference()


def _thread_entry(module: ir.Module) -> ir.Function:
    """``ptr entry(ptr task)``: runs one chunk of a task (a pthread start routine)."""
    name = f"{RUNNER}.thread"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(PTR, [PTR]), name=name)
    function.linkage = "internal"
    b = ir.IRBuilder(function.append_basic_block("entry"))
    task = function.args[0]
    fields = []
    for i, ty in enumerate((PTR, PTR, I64, I64)):
        pointer = b.gep(task, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=TASK)
        fields.append(b.load(pointer, typ=ty))
    b.call(_IndirectCallee(fields[0]), fields[1:])
    b.ret(ir.Constant(PTR, None))
    return function


def runtime_flag_set(b: ir.IRBuilder, name: str) -> ir.Value:
    """Whether the runtime-owned i32 global ``name`` (an external the runtime defines,
    such as ``tcomp_use_gomp``) is non-zero, read where ``b`` stands."""
    flag = b.module.globals.get(name)
    if flag is None:
        flag = ir.GlobalVariable(b.module, I32, name=name)
        flag.linkage = "external"
    return b.icmp_signed("!=", b.load(flag, typ=I32), ir.Constant(I32, 0))


def _pthread(module: ir.Module, name: str, ty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, ty, name)


def render_parallel_for(module: ir.Module, num_threads: int, suffix: str = "") -> ir.Function:
    """Defines (once per module) ``void tcomp.parallel<suffix>(ptr task, ptr buffers, i64 n)``:
    the task over ``0 .. n`` in ``num_threads`` chunks on threads created for the call
    (see the module docstring)."""
    existing = module.globals.get(RUNNER + suffix)
    if existing is not None:
        return existing
    entry_fn = _thread_entry(module)
    create = _pthread(module, "pthread_create", ir.FunctionType(I32, [PTR, PTR, PTR, PTR]))
    join = _pthread(module, "pthread_join", ir.FunctionType(I32, [I64, PTR]))
    function = ir.Function(module, RUNNER_FN, name=RUNNER + suffix)
    function.linkage = "internal"
    task_fn, buffers, n = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    tasks = b.alloca(TASK, size=ir.Constant(I32, num_threads), name="tasks")
    threads = b.alloca(I64, size=ir.Constant(I32, num_threads), name="threads")
    tasks.type = threads.type = PTR  # opaque pointers, as LLVM has them
    task_pointers = []
    for t in range(num_threads):
        # chunk t is n * t / T .. n * (t + 1) / T
        start = b.udiv(b.mul(n, ir.Constant(I64, t)), ir.Constant(I64, num_threads))
        end = b.udiv(b.mul(n, ir.Constant(I64, t + 1)), ir.Constant(I64, num_threads))
        task = b.gep(tasks, [ir.Constant(I32, t)], source_etype=TASK)
        for i, value in enumerate((task_fn, buffers, start, end)):
            field = b.gep(task, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=TASK)
            b.store(value, field)
        task_pointers.append(task)
    created = []
    for t in range(1, num_threads):
        handle = b.gep(threads, [ir.Constant(I32, t)], source_etype=I64)
        status = b.call(create, [handle, ir.Constant(PTR, None), entry_fn, task_pointers[t]])
        failed = b.icmp_signed("!=", status, ir.Constant(I32, 0))
        with b.if_then(failed):
            b.call(entry_fn, [task_pointers[t]])  # no thread: run the chunk here
        created.append((handle, failed))
    b.call(entry_fn, [task_pointers[0]])
    for handle, failed in created:
        with b.if_then(b.not_(failed)):
            b.call(join, [b.load(handle, typ=I64), ir.Constant(PTR, None)])
    b.ret_void()
    return function


def render_gomp_parallel(module: ir.Module, num_threads: int) -> ir.Function:
    """Defines (once per module) ``void tcomp.parallel(ptr task, ptr buffers, i64 n)`` on
    libgomp's thread pool.

    ``GOMP_parallel(worker, data, num_threads, 0)`` runs ``worker`` on a team
    whose threads persist between calls (no thread is created per call); each
    team member runs chunk ``t`` of ``omp_get_num_threads()`` (the team may be
    smaller than asked for).

    libgomp's pool does not survive ``fork``: a child process that enters it
    hangs. So the function reads the runtime's flag ``tcomp_use_gomp`` (an
    external i32 that the runtime clears in a forked child) and otherwise
    falls back to :func:`render_parallel_for`'s threads.
    """
    existing = module.globals.get(RUNNER)
    if existing is not None:
        return existing
    fallback = render_parallel_for(module, num_threads, suffix=".threads")
    data_type = ir.LiteralStructType([PTR, PTR, I64])  # task, buffers, n
    worker = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), f"{RUNNER}.omp")
    worker.linkage = "internal"
    thread_num = _pthread(module, "omp_get_thread_num", ir.FunctionType(I32, []))
    num_team = _pthread(module, "omp_get_num_threads", ir.FunctionType(I32, []))
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    data = worker.args[0]
    fields = [
        b.load(b.gep(data, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=data_type),
               typ=ty)
        for i, ty in enumerate((PTR, PTR, I64))
    ]
    task_fn, buffers, n = fields
    t = b.zext(b.call(thread_num, []), I64)
    team = b.zext(b.call(num_team, []), I64)
    start = b.udiv(b.mul(n, t), team)
    end = b.udiv(b.mul(n, b.add(t, ir.Constant(I64, 1))), team)
    b.call(_IndirectCallee(task_fn), [buffers, start, end])
    b.ret_void()

    gomp = _pthread(module, "GOMP_parallel", ir.FunctionType(ir.VoidType(), [PTR, PTR, I32, I32]))
    function = ir.Function(module, RUNNER_FN, name=RUNNER)
    function.linkage = "internal"
    task_fn, buffers, n = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    slot = b.alloca(data_type, name="data")
    slot.type = PTR
    with b.if_else(runtime_flag_set(b, GOMP_FLAG)) as (pool, threads):
        with pool:
            for i, value in enumerate((task_fn, buffers, n)):
                field = b.gep(slot, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=data_type)
                b.store(value, field)
            b.call(gomp, [worker, slot, ir.Constant(I32, num_threads), ir.Constant(I32, 0)])
        with threads:
            b.call(fallback, [task_fn, buffers, n])
    b.ret_void()
    return function
