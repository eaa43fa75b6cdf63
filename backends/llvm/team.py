"""One thread team per call: the pool threads wake once and stay for every parallel kernel.

With libgomp's pool asleep between parallel regions (``OMP_WAIT_POLICY=passive``, see
``runtime.py``), each ``GOMP_parallel`` pays a wake-up of 50-80 us on the machines we
measure on, and the region's closing barrier makes the calling thread wait for it even
when it did the whole kernel itself. A program with several parallel kernels (a train
step: matmuls, their gradients, the loss and its gradient) paid it once per kernel.

In team mode the whole program runs inside one ``GOMP_parallel``:

- thread 0 runs the program as before (every serial kernel, the loops, the interrupt
  checks, the profile clock); at a parallel kernel it posts the kernel to the team's
  slot with :func:`render_team_run`, works on it itself, closes it and waits only for
  the threads that joined;
- every other thread runs :func:`render_team_help`: it waits for posts (spinning for
  tens of microseconds, then sleeping 20 us between polls, so an idle team does not
  hold CPUs that other processes want), joins a post that is still open and takes its
  share, and leaves when thread 0 marks the program done.

A kernel's work is shared dynamically, so a thread that wakes late only misses work:
``chunked`` posts hand out chunks of the parallel loop from a counter; ``whole`` posts
(a blocked contraction, whose tasks share its counters themselves: ``contraction.py``)
are called once by each thread that joins. Joining and closing go through one atomic
``state`` word (the post's generation, an open bit and the count of threads that
joined), so no thread can join a kernel after thread 0 has moved past it.

The team slot (:data:`TEAM`)::

    { i64 state, ptr task, ptr buffers, i64 n, i64 chunk, i64 next, i64 finished,
      i32 whole, i32 done }

``state`` is ``generation << 17 | OPEN | joined`` (joined counts thread 0 too).
"""

from __future__ import annotations

import platform
import sys

from llvmlite import ir

from tcomp.backends.llvm.exprs import I32, I64, PTR
from tcomp.backends.llvm.threads import GOMP_FLAG, _IndirectCallee, _pthread, runtime_flag_set

TEAM = ir.LiteralStructType([I64, PTR, PTR, I64, I64, I64, I64, I32, I32])
TIMESPEC = ir.LiteralStructType([I64, I64])  # tv_sec, tv_nsec (LP64)
STATE, TASK, BUFFERS, EXTENT, CHUNK, NEXT, FINISHED, WHOLE, DONE = range(9)
OPEN = 1 << 16
JOINED_MASK = OPEN - 1
GENERATION_SHIFT = 17
# chunks of a chunked post per team thread: enough for a late thread to find work left
CHUNKS_PER_THREAD = 4
# polls of the slot (each after a ``pause`` on x86) before a waiting thread starts giving
# its CPU away between polls: tens of microseconds, longer than the serial kernels
# between two parallel ones of a train step, far shorter than a call
SPINS_BEFORE_YIELD = 2000
# how long an idle team thread sleeps between polls once it stopped spinning: a post
# it misses meanwhile is done by the threads that are awake (the work is dynamic)
IDLE_SLEEP_NS = 20_000
PR_SET_TIMERSLACK = 29  # prctl's option (linux/prctl.h)
TIMER_SLACK_NS = 1_000
# runtime-owned i32 (runtime.TEAM_FLAG): 0 runs every program as before, per-kernel
# parallel regions (TCOMP_THREAD_TEAM=0 in the environment when the runtime starts)
TEAM_FLAG = "tcomp_use_team"
RUN = "tcomp.team.run"
HELP = "tcomp.team.help"
SHARE = "tcomp.team.share"


def _field(b: ir.IRBuilder, team: ir.Value, number: int) -> ir.Value:
    pointer = b.gep(team, [ir.Constant(I32, 0), ir.Constant(I32, number)], source_etype=TEAM)
    pointer.type = PTR
    return pointer


def _i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def _share(module: ir.Module) -> ir.Function:
    """``void tcomp.team.share(ptr team)``: this thread's part of the current post: the
    whole task once, or chunks of ``0 .. n`` from the shared counter until none is left."""
    existing = module.globals.get(SHARE)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=SHARE)
    function.linkage = "internal"
    team = function.args[0]
    b = ir.IRBuilder(function.append_basic_block("entry"))
    task = _IndirectCallee(b.load(_field(b, team, TASK), typ=PTR))
    buffers = b.load(_field(b, team, BUFFERS), typ=PTR)
    n = b.load(_field(b, team, EXTENT), typ=I64)
    whole = b.icmp_signed("!=", b.load(_field(b, team, WHOLE), typ=I32), ir.Constant(I32, 0))
    chunked = function.append_basic_block("chunked")
    once = function.append_basic_block("whole")
    done = function.append_basic_block("done")
    b.cbranch(whole, once, chunked)
    b.position_at_end(once)
    b.call(task, [buffers, _i64(0), n])
    b.branch(done)
    b.position_at_end(chunked)
    chunk = b.load(_field(b, team, CHUNK), typ=I64)
    take = function.append_basic_block("take")
    work = function.append_basic_block("work")
    b.branch(take)
    b.position_at_end(take)
    start = b.atomic_rmw("add", _field(b, team, NEXT), chunk, "seq_cst")
    b.cbranch(b.icmp_signed("<", start, n), work, done)
    b.position_at_end(work)
    end = b.add(start, chunk)
    end = b.select(b.icmp_signed("<", end, n), end, n)
    b.call(task, [buffers, start, end])
    b.branch(take)
    b.position_at_end(done)
    b.ret_void()
    return function


def render_team_run(module: ir.Module, num_threads: int) -> ir.Function:
    """Defines (once per module) ``void tcomp.team.run(ptr team, ptr task, ptr buffers,
    i64 n, i32 whole)``, called by thread 0 for one parallel kernel: posts it, does its
    share, closes the post and waits for the threads that joined to finish theirs."""
    existing = module.globals.get(RUN)
    if existing is not None:
        return existing
    share = _share(module)
    function = ir.Function(
        module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I32]), name=RUN
    )
    function.linkage = "internal"
    team, task, buffers, n, whole = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    b.store(task, _field(b, team, TASK))
    b.store(buffers, _field(b, team, BUFFERS))
    b.store(n, _field(b, team, EXTENT))
    b.store(whole, _field(b, team, WHOLE))
    pieces = _i64(num_threads * CHUNKS_PER_THREAD)
    chunk = b.udiv(b.add(n, b.sub(pieces, _i64(1))), pieces)
    chunk = b.select(b.icmp_signed("<", chunk, _i64(1)), _i64(1), chunk)
    b.store(chunk, _field(b, team, CHUNK))
    b.store(_i64(0), _field(b, team, NEXT))
    b.store(_i64(0), _field(b, team, FINISHED))
    state = _field(b, team, STATE)
    previous = b.load_atomic(state, "seq_cst", 8, typ=I64)
    generation = b.add(b.lshr(previous, _i64(GENERATION_SHIFT)), _i64(1))
    opened = b.or_(b.shl(generation, _i64(GENERATION_SHIFT)), _i64(OPEN | 1))
    b.atomic_rmw("xchg", state, opened, "seq_cst")  # the fields above are seen before it
    b.call(share, [team])
    closed = b.atomic_rmw("and", state, _i64(~OPEN & (2**64 - 1)), "seq_cst")
    helpers = b.sub(b.and_(closed, _i64(JOINED_MASK)), _i64(1))
    spins = b.alloca(I64, name="spins")
    spins.type = PTR
    b.store(_i64(0), spins)
    wait = function.append_basic_block("wait")
    again = function.append_basic_block("again")
    give_way = function.append_basic_block("yield")
    done = function.append_basic_block("done")
    b.branch(wait)
    b.position_at_end(wait)
    finished = b.load_atomic(_field(b, team, FINISHED), "seq_cst", 8, typ=I64)
    b.cbranch(b.icmp_signed("<", finished, helpers), again, done)
    b.position_at_end(again)  # a helper still works: spin, then give the CPU away
    count = b.add(b.load(spins, typ=I64), _i64(1))
    b.store(count, spins)
    _pause(b)
    b.cbranch(b.icmp_signed(">", count, _i64(SPINS_BEFORE_YIELD)), give_way, wait)
    b.position_at_end(give_way)
    b.call(_sched_yield(module), [])
    b.branch(wait)
    b.position_at_end(done)
    b.ret_void()
    return function


def _sched_yield(module: ir.Module) -> ir.Function:
    return _pthread(module, "sched_yield", ir.FunctionType(I32, []))


def _nanosleep(module: ir.Module) -> ir.Function:
    return _pthread(module, "nanosleep", ir.FunctionType(I32, [PTR, PTR]))


def _pause(b: ir.IRBuilder) -> None:
    """x86's ``pause`` in a spin loop (it lets a sibling hardware thread and the memory
    system breathe); nothing elsewhere."""
    if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86"):
        pause = b.module.globals.get("llvm.x86.sse2.pause") or ir.Function(
            b.module, ir.FunctionType(ir.VoidType(), []), name="llvm.x86.sse2.pause"
        )
        b.call(pause, [])


def render_team_help(module: ir.Module) -> ir.Function:
    """Defines (once per module) ``void tcomp.team.help(ptr team)``, what every thread but
    thread 0 runs: join each open post once and do a share of it, until ``done``."""
    existing = module.globals.get(HELP)
    if existing is not None:
        return existing
    share = _share(module)
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=HELP)
    function.linkage = "internal"
    team = function.args[0]
    entry = function.append_basic_block("entry")
    poll = function.append_basic_block("poll")
    fresh = function.append_basic_block("fresh")
    join = function.append_basic_block("join")
    joined = function.append_basic_block("joined")
    missed = function.append_basic_block("missed")
    idle = function.append_basic_block("idle")
    give_way = function.append_basic_block("yield")
    leave = function.append_basic_block("leave")
    b = ir.IRBuilder(entry)
    seen = b.alloca(I64, name="seen")
    spins = b.alloca(I64, name="spins")
    nap = b.alloca(TIMESPEC, name="nap")
    seen.type = spins.type = nap.type = PTR
    for number, value in enumerate((0, IDLE_SLEEP_NS)):  # tv_sec, tv_nsec
        field = b.gep(nap, [ir.Constant(I32, 0), ir.Constant(I32, number)], source_etype=TIMESPEC)
        field.type = PTR
        b.store(_i64(value), field)
    state = _field(b, team, STATE)
    b.store(_i64(0), seen)  # generations start at 1: a post made before this thread woke
    b.store(_i64(0), spins)  # is still joined if it is open
    # this pool thread's naps end on time (Linux adds 50 us of timer slack by default,
    # and thread 0's closing barrier waits for a napping thread to wake)
    if sys.platform.startswith("linux"):
        prctl = _pthread(module, "prctl", ir.FunctionType(I32, [I32], var_arg=True))
        b.call(prctl, [ir.Constant(I32, PR_SET_TIMERSLACK), _i64(TIMER_SLACK_NS)])
    b.branch(poll)

    b.position_at_end(poll)
    done = b.load_atomic(_field(b, team, DONE), "seq_cst", 4, typ=I32)
    current = b.load_atomic(state, "seq_cst", 8, typ=I64)
    generation = b.lshr(current, _i64(GENERATION_SHIFT))
    is_new = b.icmp_unsigned("!=", generation, b.load(seen, typ=I64))
    b.cbranch(b.icmp_signed("!=", done, ir.Constant(I32, 0)), leave, fresh)
    b.position_at_end(fresh)
    b.cbranch(is_new, join, idle)

    b.position_at_end(join)
    is_open = b.icmp_unsigned("!=", b.and_(current, _i64(OPEN)), _i64(0))
    try_join = function.append_basic_block("try")
    b.cbranch(is_open, try_join, missed)
    b.position_at_end(try_join)
    result = b.cmpxchg(state, current, b.add(current, _i64(1)), "seq_cst", "seq_cst")
    b.cbranch(b.extract_value(result, 1), joined, poll)  # lost a race: look again

    b.position_at_end(joined)
    b.store(generation, seen)
    b.call(share, [team])
    b.atomic_rmw("add", _field(b, team, FINISHED), _i64(1), "seq_cst")
    b.store(_i64(0), spins)
    b.branch(poll)

    b.position_at_end(missed)  # closed before this thread came: nothing left to do
    b.store(generation, seen)
    b.store(_i64(0), spins)  # the program is busy: keep spinning
    b.branch(poll)

    b.position_at_end(idle)
    count = b.add(b.load(spins, typ=I64), _i64(1))
    b.store(count, spins)
    spin_on = function.append_basic_block("spin")
    b.cbranch(b.icmp_signed(">", count, _i64(SPINS_BEFORE_YIELD)), give_way, spin_on)
    b.position_at_end(spin_on)
    _pause(b)
    b.branch(poll)
    b.position_at_end(give_way)  # idle for long: sleep between polls, off the CPU
    b.call(_nanosleep(module), [nap, ir.Constant(PTR, None)])
    b.branch(poll)

    b.position_at_end(leave)
    b.ret_void()
    return function


TEAM_BODY = "tcomp.team.body"
BODY_DATA = ir.LiteralStructType([PTR, PTR])  # the program's buffers, the team slot


def render_team_entry(
    module: ir.Module, program: ir.Function, num_threads: int, entry_name: str
) -> ir.Function:
    """``void <entry_name>(ptr buffers)`` (``tcomp_main``) in team mode: the program (``void(ptr buffers,
    ptr team)``) on thread 0 of one ``GOMP_parallel`` whose other threads help.

    Without libgomp's pool (a forked child: the runtime's ``tcomp_use_gomp`` is 0), or
    with teams turned off (``tcomp_use_team`` 0: ``TCOMP_THREAD_TEAM=0``), the program
    runs alone with a null team, and each parallel kernel goes to the module's own
    per-kernel runner (:func:`render_team_dispatch`)."""

    body = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=TEAM_BODY)
    body.linkage = "internal"
    thread_num = _pthread(module, "omp_get_thread_num", ir.FunctionType(I32, []))
    help_fn = render_team_help(module)
    b = ir.IRBuilder(body.append_basic_block("entry"))
    data = body.args[0]
    zero = ir.Constant(I32, 0)
    fields = [
        b.load(b.gep(data, [zero, ir.Constant(I32, i)], source_etype=BODY_DATA), typ=PTR)
        for i in (0, 1)
    ]
    buffers, team = fields
    first = b.icmp_signed("==", b.call(thread_num, []), zero)
    with b.if_else(first) as (lead, helper):
        with lead:
            b.call(program, [buffers, team])
            b.atomic_rmw("xchg", _field(b, team, DONE), ir.Constant(I32, 1), "seq_cst")
        with helper:
            b.call(help_fn, [team])
    b.ret_void()

    main = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=entry_name)
    b = ir.IRBuilder(main.append_basic_block("entry"))
    team = b.alloca(TEAM, name="team")
    slot = b.alloca(BODY_DATA, name="data")
    team.type = slot.type = PTR
    for number, value in ((STATE, _i64(0)), (DONE, ir.Constant(I32, 0))):
        b.store(value, _field(b, team, number))
    gomp = _pthread(module, "GOMP_parallel", ir.FunctionType(ir.VoidType(), [PTR, PTR, I32, I32]))
    in_team = b.and_(runtime_flag_set(b, GOMP_FLAG), runtime_flag_set(b, TEAM_FLAG))
    with b.if_else(in_team) as (pool, alone):
        with pool:
            for i, value in enumerate((main.args[0], team)):
                b.store(value, b.gep(slot, [zero, ir.Constant(I32, i)], source_etype=BODY_DATA))
            b.call(gomp, [body, slot, ir.Constant(I32, num_threads), ir.Constant(I32, 0)])
        with alone:
            b.call(program, [main.args[0], ir.Constant(PTR, None)])
    b.ret_void()
    return main


def render_team_dispatch(module: ir.Module, num_threads: int, runner: ir.Function) -> ir.Function:
    """``void tcomp.team.dispatch(ptr team, ptr task, ptr buffers, i64 n, i32 whole)``:
    :func:`render_team_run` when the program runs in a team, else ``runner`` (the
    module's per-kernel parallel runner)."""
    name = "tcomp.team.dispatch"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    run = render_team_run(module, num_threads)
    function = ir.Function(
        module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I32]), name=name
    )
    function.linkage = "internal"
    team, task, buffers, n, whole = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    in_team = b.icmp_unsigned("!=", team, ir.Constant(PTR, None))
    with b.if_else(in_team) as (with_team, without):
        with with_team:
            b.call(run, [team, task, buffers, n, whole])
        with without:
            b.call(runner, [task, buffers, n])
    b.ret_void()
    return function


__all__ = [
    "TEAM",
    "render_team_dispatch",
    "render_team_entry",
    "render_team_help",
    "render_team_run",
]
