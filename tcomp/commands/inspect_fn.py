"""``tcomp inspect FILE.py:FUNC``: print a jitted function's IR at one stage.

Example arguments come from ``--args FILE.py:MAKE_ARGS`` (a function returning
the arguments as a tuple; pytrees allowed) or from ``--arg NAME=f32[256,784]``
specs (zeros of that type) for flat arguments.

Stage ``grad`` is the traced IR of ``tcomp.grad(FUNC)`` (the gradient with
respect to the first argument; FUNC must return a float scalar): the forward
and backward passes as one program.

``--format json|dot|svg`` prints the stage as data or as a Graphviz drawing
(see :mod:`tcomp.commands.graph_formats`); ``--stats --time`` adds measured
times to the kernel table (see :mod:`tcomp.commands.kernel_timing`);
``--memory`` adds the memory report (``Lowered.memory``: arena, peak, inputs,
outputs, and with ``--stage grad`` the residuals); ``--trace OUT.json`` runs
one call inside ``tcomp.profile`` and writes its timeline for Perfetto.
``--check-finite`` runs one call of the checked variant instead of printing IR
(see :mod:`tcomp.commands.check_finite_run`).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import ml_dtypes
import numpy as np

from tcomp.commands import CliError, check_finite_run, graph_formats, kernel_timing, subparser
from tcomp.commands.graph_formats import FORMATS

STAGES = ("traced", "optimized", "kernels", "source", "grad")
DTYPES = {
    "f32": np.float32, "f64": np.float64, "f16": np.float16, "bf16": ml_dtypes.bfloat16,
    "i32": np.int32, "bool": np.bool_,
}
_SPEC = re.compile(r"^([A-Za-z_]\w*)=(\w+)\[([0-9,\s]*)\]$")


def load_module(path: str) -> Any:
    """Imports the user's file (its folder on ``sys.path`` while it runs)."""
    file = Path(path)
    if not file.is_file():
        raise CliError(f"{path}: no such file")
    name = "_tcomp_user_" + re.sub(r"\W", "_", str(file.resolve()))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise CliError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.path.remove(folder)
    return module


def load_callable(target: str, what: str) -> Callable[..., Any]:
    """``FILE.py:NAME`` -> the callable ``NAME`` defined in that file."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise CliError(f"{what} {target!r}: expected FILE.py:NAME")
    module = load_module(path)
    value = getattr(module, name, None)
    if value is None:
        raise CliError(f"{path}: no function {name!r}")
    if not callable(value):
        raise CliError(f"{path}: {name!r} is not a function (its type: {type(value).__name__})")
    return value


def as_jit(value: Any, name: str, backend: str | None) -> Any:
    """``value`` as a :class:`JitFunction` on ``backend`` (a plain function is wrapped)."""
    from tcomp.frontend.jit import JitFunction

    if isinstance(value, JitFunction):
        if backend is None:
            return value
        rebuilt = JitFunction(value._fn, backend)
        rebuilt._static_names = value._static_names
        return rebuilt
    if inspect.isfunction(value):
        return JitFunction(value, backend)
    raise CliError(
        f"{name!r} is not a function or tcomp.jit function (its type: {type(value).__name__})"
    )


def grad_jit(value: Any, name: str, backend: str | None) -> Any:
    """A :class:`JitFunction` of ``tcomp.grad`` of ``value``'s Python function (w.r.t. its
    first argument), named ``grad_NAME`` in the IR; ``value`` may be a tcomp.jit function."""
    from tcomp.frontend.jit import JitFunction
    from tcomp.frontend.transforms import grad

    forward = as_jit(value, name, backend)
    jitted = JitFunction(grad(forward._fn), backend)
    jitted._static_names = forward._static_names
    jitted.__name__ = f"grad_{forward.__name__}"
    return jitted


def require_scalar_loss(fn: Any, positional: tuple, keywords: dict, what: str) -> None:
    """Raises a :class:`CliError` unless ``fn`` traces to a single float scalar (a loss)."""
    from tcomp.ir.types import is_float

    outputs = fn.lower(*positional, **keywords).function("traced").outputs
    if len(outputs) == 1 and outputs[0].type.shape == () and is_float(outputs[0].dtype):
        return
    shown = ", ".join(str(output.type) for output in outputs) or "nothing"
    raise CliError(
        f"{what}: {fn.__name__!r} returns {shown}; a gradient needs a function returning "
        f"one float scalar (a loss, e.g. the mean of its result)"
    )


def parse_arg_spec(text: str) -> tuple[str, np.ndarray]:
    """``x=f32[256,784]`` -> ``("x", zeros((256, 784), float32))`` (``f32[]``: a scalar)."""
    match = _SPEC.match(text.strip())
    if match is None:
        raise CliError(f"bad --arg {text!r}: expected NAME=DTYPE[D0,D1,...], e.g. x=f32[256,784]")
    name, dtype, dims = match.groups()
    if dtype not in DTYPES:
        raise CliError(f"bad --arg {text!r}: unknown dtype {dtype!r} (use {', '.join(DTYPES)})")
    shape = tuple(int(d) for d in dims.replace(" ", "").split(",") if d)
    return name, np.zeros(shape, DTYPES[dtype])


def args_from_specs(fn: Callable[..., Any], specs: list[str]) -> tuple[tuple, dict]:
    """Positional arguments in the function's parameter order, from ``--arg`` specs."""
    values: dict[str, np.ndarray] = {}
    for text in specs:
        name, value = parse_arg_spec(text)
        if name in values:
            raise CliError(f"--arg {name!r} given twice")
        values[name] = value
    parameters = inspect.signature(getattr(fn, "_fn", fn)).parameters
    unknown = [name for name in values if name not in parameters]
    if unknown:
        raise CliError(
            f"--arg {unknown[0]!r}: the function has no such parameter "
            f"(its parameters: {', '.join(parameters)})"
        )
    kwargs: dict[str, Any] = {}
    for name, parameter in parameters.items():
        if name in values:
            kwargs[name] = values[name]
        elif parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD
        ):
            raise CliError(f"missing --arg for parameter {name!r} (e.g. --arg {name}=f32[4])")
    return (), kwargs


def _accepts_seed(make_args: Callable[..., Any]) -> bool:
    try:
        return "seed" in inspect.signature(make_args).parameters
    except (TypeError, ValueError):
        return False


def example_args(
    fn: Any, args: argparse.Namespace, seed: int | None = None
) -> tuple[tuple, dict]:
    """The example arguments of ``--args`` or ``--arg`` (``seed`` goes to a MAKE_ARGS
    that has a ``seed`` parameter; a MAKE_ARGS without one ignores it)."""
    if args.args and args.arg:
        raise CliError("give either --args FILE.py:MAKE_ARGS or --arg specs, not both")
    if args.args:
        make_args = load_callable(args.args, "--args")
        extra = {"seed": seed} if seed is not None and _accepts_seed(make_args) else {}
        try:
            made = make_args(**extra)
        except TypeError as error:
            raise CliError(f"--args {args.args}: {error}") from error
        if not isinstance(made, tuple):
            raise CliError(
                f"--args {args.args}: returned a {type(made).__name__}; return a tuple of arguments"
            )
        return made, {}
    return args_from_specs(fn, args.arg or [])


def _relative_locations(text: str, path: str) -> str:
    """Shows the user's file as they named it on the command line, not its absolute path."""
    absolute = json.dumps(str(Path(path).resolve()))
    return text.replace(f"loc({absolute}:", f"loc({json.dumps(path)}:")


def check_options(args: argparse.Namespace) -> None:
    """One-line errors for a stage, format or option combination that cannot work."""
    if args.stage is not None and args.stage not in STAGES:
        raise CliError(f"unknown stage {args.stage!r}: use one of {', '.join(STAGES)}")
    if args.format not in FORMATS:
        raise CliError(f"unknown format {args.format!r}: use one of {', '.join(FORMATS)}")
    if args.format in ("dot", "svg") and args.stage == "source":
        raise CliError(
            f"--format {args.format} draws graphs: use --stage traced, optimized, grad or "
            "kernels (source is text: --format text or json)"
        )
    if args.stats and args.format != "text":
        raise CliError("--stats prints a table: use it with --format text (the default)")
    if args.memory and args.format != "text":
        raise CliError("--memory prints a table: use it with --format text (the default)")
    if args.trace is not None and not Path(args.trace).parent.is_dir():
        raise CliError(f"--trace {args.trace}: the folder {Path(args.trace).parent} does not exist")
    if args.check_finite and (args.stats or args.memory or args.trace or args.format != "text"):
        raise CliError("--check-finite runs the function and prints what it found: use it "
                       "without --stats, --memory, --trace and --format")
    if args.time and not args.stats:
        raise CliError("--time adds a column to the --stats table: give --stats too")
    if args.repeats < 1:
        raise CliError(f"--repeats {args.repeats}: give at least 1")
    if args.backend is not None:
        from tcomp.backends.registry import check_backend_name

        check_backend_name(args.backend)


def has_kernels(lowered: Any) -> bool:
    """True when the backend compiles the function to kernels (not ``reference``)."""
    from tcomp.ir.errors import TcompArgumentError

    try:
        lowered.kernel_program()
    except TcompArgumentError:
        return False
    return True


def text_output(lowered: Any, stage: str, args: argparse.Namespace, path: str) -> str:
    """The IR of ``stage`` as text (``--format text``)."""
    if stage in ("traced", "optimized"):
        text = lowered.as_text(stage, locations=args.loc)
        return _relative_locations(text, path) if args.loc else text
    text = lowered.as_text(stage)
    return text if text.endswith("\n") else text + "\n"


def json_output(lowered: Any, stage: str, path: str) -> str:
    """The IR of ``stage`` as JSON (``--format json``)."""
    if stage in ("traced", "optimized"):
        return graph_formats.to_json(graph_formats.function_json(lowered.function(stage), path))
    if stage == "kernels":
        return graph_formats.to_json(graph_formats.program_json(lowered.kernel_program()))
    source = lowered.as_text("source")
    backend = lowered._program.signature.backend
    return graph_formats.to_json(graph_formats.source_json(backend, source))


def dot_output(lowered: Any, stage: str | None, graph_stage: str) -> str:
    """The DOT text: ``kernels`` (the default where the backend compiles to kernels)
    clusters the optimized graph's ops by kernel; graph stages draw the graph alone."""
    if stage == "kernels" or (stage is None and has_kernels(lowered)):
        return graph_formats.function_dot(lowered.function("optimized"), lowered.kernel_program())
    return graph_formats.function_dot(lowered.function(graph_stage))


def stats_output(
    fn: Any, lowered: Any, positional: tuple, keywords: dict, args: argparse.Namespace
) -> str:
    """The ``--stats`` table (with ``--time``, timed on the example arguments); computed
    before any output, so that a backend without kernels fails with nothing printed."""
    program = lowered.kernel_program()
    timing = None
    if args.time:
        _, leaves = fn._program_for(positional, keywords, frozenset())
        timing = kernel_timing.time_program(lowered, leaves, args.repeats)
    return kernel_timing.stats_table(program, timing)


def run(args: argparse.Namespace) -> int:
    check_options(args)
    path, _, name = args.target.rpartition(":")
    value = load_callable(args.target, "target")
    fn = as_jit(value, name, args.backend)
    positional, keywords = example_args(fn, args)
    stage = args.stage or "traced"
    if stage == "grad":
        require_scalar_loss(fn, positional, keywords, "--stage grad")
        fn, stage = grad_jit(value, name, args.backend), "traced"
    if args.check_finite:
        code, text = check_finite_run.run_checked(fn, positional, keywords)
        sys.stdout.write(text)
        return code
    if args.trace is not None:
        write_trace(fn, positional, keywords, args.trace)
    lowered = fn.lower(*positional, **keywords)
    table = stats_output(fn, lowered, positional, keywords, args) if args.stats else ""
    memory = str(lowered.memory()) if args.memory else ""
    if args.format == "text":
        sys.stdout.write(text_output(lowered, stage, args, path))
    elif args.format == "json":
        sys.stdout.write(json_output(lowered, stage, path))
    else:
        dot = dot_output(lowered, args.stage if args.stage != "grad" else stage, stage)
        sys.stdout.write(dot if args.format == "dot" else graph_formats.render_svg(dot))
    if table:
        sys.stdout.write("\n" + table)
    if memory:
        sys.stdout.write("\n" + memory)
    return 0


def write_trace(fn: Any, positional: tuple, keywords: dict, path: str) -> None:
    """Runs one call of ``fn`` on the example arguments inside ``tcomp.profile(path)``
    (its first call: tracing and compiling are on the timeline) and says so on stderr."""
    from tcomp.frontend.timeline import profile

    with profile(path) as timeline:
        fn(*positional, **keywords)
    spans = sum(event["ph"] == "X" for event in timeline.events)
    print(f"trace: wrote {path} ({spans} spans); open it in https://ui.perfetto.dev "
          "or chrome://tracing", file=sys.stderr)


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "inspect",
        "print the IR of a jitted function at one stage (traced, optimized, kernels, source, grad)",
        "tcomp inspect model.py:loss --args model.py:make_args --stage kernels --stats\n"
        "  tcomp inspect model.py:loss --args model.py:make_args --stats --time --backend opencl\n"
        "  tcomp inspect model.py:loss --args model.py:make_args --format dot > loss.dot\n"
        "  tcomp inspect model.py:loss --args model.py:make_args --stage grad --memory\n"
        "  tcomp inspect model.py:loss --args model.py:make_args --trace loss.json\n"
        "  tcomp inspect model.py:loss --args model.py:make_args --stage grad --check-finite\n"
        "  tcomp inspect model.py:predict --arg x=f32[256,784] --arg w=f32[784,10]",
    )
    parser.add_argument("target", metavar="FILE.py:FUNC", help="the function to inspect")
    parser.add_argument(
        "--args", metavar="FILE.py:MAKE_ARGS",
        help="a function returning the example arguments as a tuple (pytrees allowed)",
    )
    parser.add_argument(
        "--arg", action="append", metavar="NAME=DTYPE[SHAPE]",
        help=f"a flat argument of zeros, e.g. x=f32[256,784] (dtypes: {' '.join(DTYPES)})",
    )
    parser.add_argument(
        "--stage", default=None,
        help=f"{'|'.join(STAGES)} (default traced; for --format dot/svg, kernels where the "
        "backend compiles to kernels, else optimized); grad: the traced IR of tcomp.grad(FUNC), "
        "the gradient w.r.t. the first argument, forward and backward (FUNC must return "
        "a float scalar)",
    )
    parser.add_argument(
        "--format", default="text",
        help="text (default) | json (the IR as data: nodes, or buffers and kernels) | dot "
        "(Graphviz: one node per op, edges labelled with types, a cluster per kernel) | svg "
        "(the dot drawing; needs Graphviz's 'dot' program)",
    )
    parser.add_argument("--backend", default=None, help="backend name (default: TCOMP_BACKEND or llvm)")
    parser.add_argument("--loc", action="store_true", help="show the user's file:line on IR lines")
    parser.add_argument(
        "--stats", action="store_true",
        help="a table per kernel: ops fused, bytes read/written, loop iterations",
    )
    parser.add_argument(
        "--time", action="store_true",
        help="with --stats: a 'time (us)' column, the median of --repeats runs. GPU backends "
        "(opencl, cuda): each kernel's launch, synchronized before and after it. llvm: a "
        "profiled build of the program (a separate compile and cache entry) reads a clock "
        "around each kernel inside the native call",
    )
    parser.add_argument(
        "--repeats", type=int, default=10, metavar="N",
        help="runs to take the median of, for --time (default 10)",
    )
    parser.add_argument(
        "--memory", action="store_true",
        help="a memory report: inputs, outputs, the scratch arena and its peak, and (with "
        "--stage grad) the values the forward pass saves for the backward pass",
    )
    parser.add_argument(
        "--trace", metavar="OUT.json", default=None,
        help="run one call (tracing and compiling included) and write its timeline in "
        "Chrome's trace-event JSON, for https://ui.perfetto.dev or chrome://tracing",
    )
    parser.add_argument(
        "--check-finite", action="store_true",
        help="run one call of the checked variant (tcomp.jit(..., check_finite=True)) and "
        "print its outputs' ranges, or, exit status 1, the op that made the first NaN or "
        "infinity: its line, forward or backward pass, kernel, shapes and input ranges",
    )
    parser.set_defaults(run=run)
